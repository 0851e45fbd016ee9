-- Issue 16: unread marks and live updates.
--
-- A read position is the newest message a user was shown of a conversation
-- (its id: ids grow with every message, so "newer than what I saw" is one
-- comparison on the index messages_conversation already serves). A row
-- exists only once the user opened the conversation; without one every
-- message of someone else is new to them.
CREATE TABLE read_positions (
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    message_id      bigint NOT NULL,
    seen_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, conversation_id)
);
-- The purge deletes conversations by the million: the cascade finds their
-- positions by conversation.
CREATE INDEX read_positions_conversation ON read_positions (conversation_id);

-- Every change to a conversation or a new message in it is announced on
-- postdesk_conv with the conversation's id, whichever path wrote it (ingest,
-- the pages, the API, mail commands, another instance). PostgreSQL sends it
-- at commit, once per id and transaction, and never for a rollback. Deletes
-- are not announced: the purge removes what nobody is working on, by the
-- million, and a notification per row would only flood the queue.
CREATE FUNCTION postdesk_notify_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'conversations' THEN
        PERFORM pg_notify('postdesk_conv', NEW.id::text);
    ELSE
        PERFORM pg_notify('postdesk_conv', NEW.conversation_id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER conversations_notify AFTER INSERT OR UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION postdesk_notify_conversation();
CREATE TRIGGER messages_notify AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION postdesk_notify_conversation();
