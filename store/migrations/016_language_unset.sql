-- A user's language is '' until someone chooses it (the file's `language`,
-- or later a setting): the web view then follows the browser's
-- Accept-Language and mail is written in the first of the mail templates'
-- languages. Before, every user got 'en', so a Finnish browser never
-- counted for anyone signed in. Rows already there keep their language.
ALTER TABLE users ALTER COLUMN language SET DEFAULT '';
