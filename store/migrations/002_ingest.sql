-- Ingest that no mail can stop (issue 11): bounded index entries, duplicates
-- recognised by the mail's content, the server copies of every duplicate,
-- and the go-live import of the mail a folder held before postdesk came.

-- A btree entry is limited to about 2.7 KB, and a mail may carry a Message-ID
-- or an address of any length: a value taken from a mail is indexed by hash.
-- Message-IDs are only ever looked up by equality (= and = ANY, the latter as
-- a bitmap scan), which PostgreSQL's hash index serves whatever the value's
-- size (it keeps a 32-bit hash per row). The sender's recent mail is a range
-- of times per sender: a btree on the md5 of the address (a fixed 32
-- characters) and the time; the query compares the address itself too, so a
-- collision costs nothing but a row read.
DROP INDEX messages_message_id;
CREATE INDEX messages_message_id ON messages USING hash (message_id) WHERE message_id IS NOT NULL;
DROP INDEX messages_from_recent;
CREATE INDEX messages_from_recent ON messages (md5(from_addr), created_at) WHERE direction = 'in';

-- The old fingerprint (Message-ID, From, Date and Subject) made different
-- mails one. raw_key is the sha256 of the raw source without its trace
-- header fields (see conversation.ContentKey): the same mail delivered to two
-- mailboxes has one, two different mails never. Unique, so that two
-- instances storing the same mail at once cannot both win: the loser's
-- transaction fails on it, is retried, and then finds the mail stored.
DROP INDEX messages_fingerprint;
ALTER TABLE messages DROP COLUMN fingerprint;
ALTER TABLE messages ADD COLUMN raw_key bytea CHECK (length(raw_key) = 32);
CREATE UNIQUE INDEX messages_raw_key ON messages (raw_key) WHERE raw_key IS NOT NULL;

-- Every further server copy of a stored mail (the same mail in a second
-- mailbox, or again under a new UIDVALIDITY): a refetch of it is recognised
-- by its IMAP key, and the retention purge deletes it from the server with
-- the message it belongs to.
CREATE TABLE message_copies (
    mailbox      text NOT NULL,
    uid_validity bigint NOT NULL,
    uid          bigint NOT NULL,
    message_id   bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox, uid_validity, uid)
);
CREATE INDEX message_copies_message ON message_copies (message_id);

-- The mail a folder held when postdesk first connected (UIDs up to
-- import_until under uid_validity) is archive: stored, nobody mailed.
ALTER TABLE mailboxes ADD COLUMN import_until bigint NOT NULL DEFAULT 0;

-- The quarantine notice goes to a category's staff at most once an hour.
CREATE INDEX outbox_category_template ON outbox (category_id, template, created_at) WHERE category_id IS NOT NULL;

-- to_tsvector refuses a text whose lexemes take more than 1 MB, which a few
-- MB of plain text (a pasted log) reach: the search covers the first 100,000
-- characters of a body (and of a subject and a sender), so that any mail can
-- be stored.
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search;
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', left(coalesce(subject, ''), 1000) || ' ' || left(coalesce(from_addr, ''), 1000) || ' '
        || left(coalesce(text_body, ''), 100000))
) STORED;
CREATE INDEX messages_search ON messages USING gin (search);
