-- Issue 12: the purge's IMAP deletions are durable.
--
-- One row per server copy of a purged inbound mail (the message's own copy
-- and every message_copies row), written in the purge batch's transaction
-- and deleted when the copy is gone from the server. It is a queue of the
-- one shape (package queue): claimed with FOR UPDATE SKIP LOCKED and a
-- lease (next_attempt_at), worked outside any transaction, recorded after.
-- It names the copy, never its content: Message-ID, sha256 and size are
-- what finds a copy whose UID changed (a move, a new UIDVALIDITY).
CREATE TABLE imap_deletions (
    id              bigserial PRIMARY KEY,
    mailbox         text NOT NULL,
    uid_validity    bigint NOT NULL,
    uid             bigint NOT NULL,
    message_id      text NOT NULL DEFAULT '',
    raw_sha256      bytea,
    raw_size        bigint NOT NULL DEFAULT 0,
    -- The purged conversation's category, whose staff are told when the
    -- copy cannot be deleted for days; kept as a key, so that it outlives
    -- any category change and needs no foreign key.
    category        text NOT NULL DEFAULT '',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    reported_at     timestamptz
);
CREATE INDEX imap_deletions_due ON imap_deletions (next_attempt_at);
CREATE INDEX imap_deletions_mailbox_due ON imap_deletions (mailbox, next_attempt_at);
CREATE INDEX imap_deletions_created ON imap_deletions (created_at);
