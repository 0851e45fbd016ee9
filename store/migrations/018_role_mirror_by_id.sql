-- The receiver-role mirror's UPDATE (migrations 006, 015) joined the
-- changed rows (a transition table, of a size the planner cannot know) to
-- conversations in one statement, and PL/pgSQL keeps that statement's plan
-- for the session: the plan made while the tables were small hashed
-- conversations whole, 0.9 ms for every conversation opened once the table
-- held 2,000, and more as it grew. Each changed conversation is now read and
-- written by its primary key, one row each whatever the estimates.
CREATE OR REPLACE FUNCTION conversation_roles_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cid bigint;
    ids bigint[];
BEGIN
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    FOR cid IN SELECT DISTINCT conversation_id FROM changed LOOP
        SELECT coalesce(array_agg(cr.role_id ORDER BY cr.role_id), '{}') INTO ids
            FROM conversation_roles cr WHERE cr.conversation_id = cid;
        UPDATE conversations SET role_ids = ids WHERE id = cid AND role_ids IS DISTINCT FROM ids;
    END LOOP;
    RETURN NULL;
END $$;
