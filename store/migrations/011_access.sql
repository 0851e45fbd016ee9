-- Issue 17: who read what. Every view of a conversation or download of a
-- file by staff, a manager or an API token, kept under audit_retention.
-- No foreign key to conversations: the record outlives the purge. It never
-- holds content.
CREATE TABLE access_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    user_id         bigint REFERENCES users(id) ON DELETE SET NULL,
    email           text NOT NULL,      -- the reader's address then
    conversation_id bigint NOT NULL,
    number          bigint NOT NULL,    -- the conversation's number, readable after a purge
    attachment_id   text,               -- a file downloaded; NULL for a page or API read
    via             text NOT NULL,      -- web | api
    as_what         text NOT NULL,      -- staff | manager | token
    client          text NOT NULL DEFAULT ''  -- IP address and User-Agent
);
CREATE INDEX access_log_conversation ON access_log (conversation_id, at);
CREATE INDEX access_log_user ON access_log (user_id, at);
CREATE INDEX access_log_at ON access_log (at);
