-- Issue 13: the control panel's counts at a million conversations.
--
-- Unread (store/readpos.go) is a message after the viewer's read position
-- that someone else wrote and they may read. The panel counts it for every
-- open conversation the viewer sees, on every page: probed in messages,
-- that was 165 ms of a staff member's 300 ms count at 7,721 open
-- conversations. Each conversation now keeps its newest news, as the
-- viewer without staff powers reads it (news_id: customer mail, answers,
-- events someone caused) and as staff read it (staff_news_id: notes and
-- delivery reports too), each with its author: news is one comparison with
-- the read position, and messages are probed only where the viewer wrote
-- the newest news themselves (an older message of someone else may still
-- be unread there).
ALTER TABLE conversations
    ADD COLUMN news_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN news_author_id bigint,
    ADD COLUMN staff_news_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN staff_news_author_id bigint;

UPDATE conversations c SET news_id = n.id, news_author_id = n.author_id
    FROM (SELECT DISTINCT ON (conversation_id) conversation_id, id, author_id FROM messages
          WHERE kind IN ('customer', 'staff') OR (kind = 'event' AND author_id IS NOT NULL)
          ORDER BY conversation_id, id DESC) n
    WHERE c.id = n.conversation_id;
UPDATE conversations c SET staff_news_id = n.id, staff_news_author_id = n.author_id
    FROM (SELECT DISTINCT ON (conversation_id) conversation_id, id, author_id FROM messages
          WHERE kind IN ('customer', 'staff', 'note', 'bounce') OR (kind = 'event' AND author_id IS NOT NULL)
          ORDER BY conversation_id, id DESC) n
    WHERE c.id = n.conversation_id;

-- Every path that writes a message (ingest, the pages, the API, mail
-- commands) keeps them, as migration 012's triggers announce it. Ids are
-- taken before commit, so a smaller one can arrive second: the newest wins.
-- Auto-replies and the system's own events are no news.
CREATE FUNCTION postdesk_conversation_news() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind IN ('customer', 'staff') OR (NEW.kind = 'event' AND NEW.author_id IS NOT NULL) THEN
        UPDATE conversations SET
            news_author_id = CASE WHEN NEW.id > news_id THEN NEW.author_id ELSE news_author_id END,
            news_id = greatest(news_id, NEW.id),
            staff_news_author_id = CASE WHEN NEW.id > staff_news_id THEN NEW.author_id ELSE staff_news_author_id END,
            staff_news_id = greatest(staff_news_id, NEW.id)
        WHERE id = NEW.conversation_id;
    ELSIF NEW.kind IN ('note', 'bounce') THEN
        UPDATE conversations SET
            staff_news_author_id = CASE WHEN NEW.id > staff_news_id THEN NEW.author_id ELSE staff_news_author_id END,
            staff_news_id = greatest(staff_news_id, NEW.id)
        WHERE id = NEW.conversation_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_news AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION postdesk_conversation_news();

-- The panel counts open work only (store.OpenStatuses, in this order). A
-- staff member's open conversations were found by intersecting the status
-- index with the receiver roles' GIN index, whose 350,000 entries per role
-- are mostly the archive's (117 ms at a million); these indexes hold the
-- open rows alone, a few thousand, for the staff, company and customer
-- branches of the rule.
CREATE INDEX conversations_open_roles ON conversations USING gin (role_ids)
    WHERE status IN ('new', 'open', 'waiting');
CREATE INDEX conversations_open_company ON conversations (company_id)
    WHERE status IN ('new', 'open', 'waiting');
CREATE INDEX conversations_open_customer ON conversations (customer_id)
    WHERE status IN ('new', 'open', 'waiting');
