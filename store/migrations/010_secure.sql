-- Issue 17: secure categories. A secure category's conversations are never
-- carried by email: every mail about them says only that there is
-- something to read, and where.
ALTER TABLE categories ADD COLUMN secure boolean NOT NULL DEFAULT false;

-- The mode each mail was built in (true: without content), set when it is
-- built for sending, so staff see what each recipient was sent; NULL for a
-- mail not built yet.
ALTER TABLE outbox ADD COLUMN built_secure boolean;
