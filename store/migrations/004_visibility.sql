-- Who sees what: the visibility rule, written once (issue 10).
--
-- conversation_viewers holds one row per (conversation, user, reason) for
-- every user who may see a conversation. Every list, search, count, single
-- read, attachment check and notification recipient list reads this view, so
-- what a user is shown and what a user is mailed cannot differ. The reasons
-- are named in Go by conversation.Reason (conversation/visibility.go):
--
--   staff     a member of a staff role among the receivers: sees it all,
--             internal notes included, and has staff powers
--   customer  the conversation's customer
--   assignee  the conversation's customer assignee
--   company   a member of a non-staff receiver role (managers) whose company
--             is the one the conversation is about
--   manager   a holder of the manager permission whose company is the one
--             the conversation is about
--
-- A conversation is about its company, or, without one, its customer's
-- company. A user without a company never sees anything through `company`
-- or `manager`; a non-staff receiver role on its own gives nothing.

CREATE VIEW conversation_about AS
SELECT c.id AS conversation_id, coalesce(c.company_id, cu.company_id) AS company_id
  FROM conversations c LEFT JOIN users cu ON cu.id = c.customer_id;

CREATE VIEW conversation_viewers AS
SELECT cr.conversation_id, rm.user_id, 'staff'::text AS reason
  FROM conversation_roles cr
  JOIN roles r ON r.id = cr.role_id AND r.staff
  JOIN role_members rm ON rm.role_id = cr.role_id
UNION ALL
SELECT c.id, c.customer_id, 'customer'::text
  FROM conversations c WHERE c.customer_id IS NOT NULL
UNION ALL
SELECT c.id, c.assignee_id, 'assignee'::text
  FROM conversations c WHERE c.assignee_id IS NOT NULL
UNION ALL
SELECT cr.conversation_id, rm.user_id, 'company'::text
  FROM conversation_roles cr
  JOIN roles r ON r.id = cr.role_id AND NOT r.staff
  JOIN role_members rm ON rm.role_id = cr.role_id
  JOIN users u ON u.id = rm.user_id
  JOIN conversation_about a ON a.conversation_id = cr.conversation_id AND a.company_id = u.company_id
UNION ALL
SELECT a.conversation_id, u.id, 'manager'::text
  FROM conversation_about a
  JOIN users u ON u.company_id = a.company_id
 WHERE EXISTS (SELECT 1 FROM role_members rm JOIN roles r ON r.id = rm.role_id
                WHERE rm.user_id = u.id AND 'manager' = ANY (r.permissions));

CREATE INDEX users_company ON users (company_id) WHERE company_id IS NOT NULL;
CREATE INDEX conversations_assignee ON conversations (assignee_id) WHERE assignee_id IS NOT NULL;
