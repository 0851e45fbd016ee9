-- A search by a manager (or a member of another non-staff receiver role)
-- reads their company's conversations whole, once, from these two indexes
-- (store.ListConversations: seen), and the company branch keeps those of
-- the viewer's roles. With the receiver roles in the index the read is an
-- index-only scan; without them it visited the heap for every conversation
-- of the company (a bitmap heap scan of 4,000 blocks for 9,000 rows, about
-- half of the search's time at 200,000 conversations). role_ids is a few
-- role ids, far from the btree entry limit.
DROP INDEX conversations_company;
CREATE INDEX conversations_company ON conversations (company_id, updated_at DESC, id DESC) INCLUDE (role_ids);
DROP INDEX conversations_nocompany;
CREATE INDEX conversations_nocompany ON conversations (customer_id, updated_at DESC, id DESC) INCLUDE (role_ids)
    WHERE company_id IS NULL;
