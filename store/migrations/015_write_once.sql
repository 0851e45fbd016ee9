-- The receiver-role mirror (conversations.role_ids, migration 006) wrote
-- every new conversation twice: the trigger's UPDATE made a second version
-- of the row, and as role_ids is in a GIN index that update is never HOT,
-- so each of the table's indexes got a second entry. It ran once more for
-- every conversation the purge deleted (the cascade's DELETE on
-- conversation_roles is a statement of its own, per conversation) only to
-- find the row gone. Now a conversation inserted with its role_ids already
-- set is left alone, an update that changes nothing is skipped, and the
-- cascade from a deleted conversation is not mirrored at all:
-- conversation_roles.role_id refers to roles without a cascade, so a
-- nested delete of conversation_roles can only come from a conversation
-- being deleted.
CREATE OR REPLACE FUNCTION conversation_roles_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    UPDATE conversations c SET role_ids = n.ids
        FROM (SELECT ch.id, coalesce((SELECT array_agg(cr.role_id ORDER BY cr.role_id)
                    FROM conversation_roles cr WHERE cr.conversation_id = ch.id), '{}') AS ids
              FROM (SELECT DISTINCT conversation_id AS id FROM changed) ch) n
        WHERE c.id = n.id AND c.role_ids IS DISTINCT FROM n.ids;
    RETURN NULL;
END $$;

-- Migrations 003 and 005 each made the same index for the acknowledgement
-- limit per domain; every queued acknowledgement was written into both.
DROP INDEX IF EXISTS outbox_received_domain;

-- The outbox claim (store.ClaimOutbox) takes the oldest due rows by id: an
-- index in that order over the pending rows only, so that a claim reads
-- the due rows it takes and not every pending row sorted.
CREATE INDEX outbox_pending_id ON outbox (id) WHERE status = 'pending';
