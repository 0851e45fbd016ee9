-- The inbox's read model (issue 13): each branch of the visibility rule
-- walks an index in the order of activity, so that a page of the newest
-- costs the same at a million conversations as at a thousand, and search
-- reads its hits from indexes instead of testing every visible row.

-- Activity within a customer, an assignee, a company, a status and a
-- Handler: the branches and filters of store.ListConversations, each read
-- newest first and cut at one page. They replace the plain indexes on
-- customer and company, which the longer ones serve as well.
DROP INDEX conversations_customer;
CREATE INDEX conversations_customer ON conversations (customer_id, updated_at DESC, id DESC);
DROP INDEX conversations_company;
CREATE INDEX conversations_company ON conversations (company_id, updated_at DESC, id DESC);
CREATE INDEX conversations_assignee ON conversations (assignee_id, updated_at DESC, id DESC) WHERE assignee_id IS NOT NULL;
CREATE INDEX conversations_status ON conversations (status, updated_at DESC, id DESC);
CREATE INDEX conversations_handler ON conversations (handler_id, updated_at DESC, id DESC) WHERE handler_id IS NOT NULL;
-- A conversation of no company of its own is about its customer's: the
-- company branches read these by customer.
CREATE INDEX conversations_nocompany ON conversations (customer_id, updated_at DESC, id DESC) WHERE company_id IS NULL;

-- Search. Words by full text in two configurations at once: 'finnish'
-- (the Snowball stemmer: palkka and palkastani are both palk) and 'simple'
-- (the words as written, for prefixes of any word and for names the
-- stemmer would mangle). Parts of words, compounds' heads (korvaus in
-- lomakorvaus) and names by trigram (pg_trgm, shipped with PostgreSQL's
-- contrib) on the subject and on the sender of inbound mail. The text
-- searched is still capped (see 002).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search;
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('finnish', left(coalesce(subject, ''), 1000) || ' ' || left(coalesce(from_name, ''), 1000) || ' '
        || left(coalesce(from_addr, ''), 1000) || ' ' || left(coalesce(text_body, ''), 100000))
    || to_tsvector('simple', left(coalesce(subject, ''), 1000) || ' ' || left(coalesce(from_name, ''), 1000) || ' '
        || left(coalesce(from_addr, ''), 1000) || ' ' || left(coalesce(text_body, ''), 100000))
) STORED;
CREATE INDEX messages_search ON messages USING gin (search);

-- The receiver roles of a conversation, mirrored from conversation_roles
-- onto its row (by the triggers below, whoever writes them), so that one
-- GIN index holds a role's conversations and their subjects' trigrams
-- together: a word frequent in the subjects of one category and absent
-- from another's is then found, or found missing, for a role inside the
-- index, without reading the other category's rows. The visibility rule
-- reads the column (conversation.receivedBy).
ALTER TABLE conversations ADD COLUMN role_ids bigint[] NOT NULL DEFAULT '{}';
UPDATE conversations c SET role_ids = r.ids
    FROM (SELECT conversation_id, array_agg(role_id ORDER BY role_id) AS ids FROM conversation_roles GROUP BY conversation_id) r
    WHERE r.conversation_id = c.id;

CREATE FUNCTION conversation_roles_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c SET role_ids = coalesce(
            (SELECT array_agg(cr.role_id ORDER BY cr.role_id) FROM conversation_roles cr WHERE cr.conversation_id = c.id), '{}')
        WHERE c.id IN (SELECT conversation_id FROM changed);
    RETURN NULL;
END $$;
CREATE TRIGGER conversation_roles_inserted AFTER INSERT ON conversation_roles
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversation_roles_mirror();
CREATE TRIGGER conversation_roles_updated AFTER UPDATE ON conversation_roles
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversation_roles_mirror();
CREATE TRIGGER conversation_roles_deleted AFTER DELETE ON conversation_roles
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversation_roles_mirror();

-- Serves a role's conversations (role_ids && ...), subjects alone, and both.
CREATE INDEX conversations_roles_subject ON conversations USING gin (role_ids, subject gin_trgm_ops);
CREATE INDEX messages_sender_trgm ON messages USING gin ((left(from_name, 200) || ' ' || left(from_addr, 200)) gin_trgm_ops)
    WHERE direction = 'in';
