-- Issue 13: a company's people are looked up by the visibility rule on every
-- list, count and page of its manager (the conversations of its customers
-- that have no company of their own: aboutOneOf), and by the pick-lists.
-- Without an index each lookup read every user: 0.26 ms at 4,406 users in
-- the benchmark's database, twice in each list of a manager, and growing
-- with every customer the bureau serves.
CREATE INDEX users_company ON users (company_id) WHERE company_id IS NOT NULL;
