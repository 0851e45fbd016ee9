-- Issue 16: canned answers per receiver role and language, and signatures
-- per role or per user and language, for the web composer. The text holds
-- placeholders ({customer.name}, {conversation.number}, {handler.name},
-- {my.name}) that conversation.FillCanned fills per conversation.
CREATE TABLE canned_answers (
    id         bigserial PRIMARY KEY,
    role_id    bigint NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    language   text NOT NULL,
    title      text NOT NULL CHECK (title <> ''),
    body       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX canned_answers_role ON canned_answers (role_id, language, title);

-- Exactly one owner: a role or a user. One signature per owner and language.
CREATE TABLE signatures (
    id       bigserial PRIMARY KEY,
    role_id  bigint REFERENCES roles(id) ON DELETE CASCADE,
    user_id  bigint REFERENCES users(id) ON DELETE CASCADE,
    language text NOT NULL,
    body     text NOT NULL,
    CHECK ((role_id IS NULL) <> (user_id IS NULL))
);
CREATE UNIQUE INDEX signatures_role ON signatures (role_id, language) WHERE role_id IS NOT NULL;
CREATE UNIQUE INDEX signatures_user ON signatures (user_id, language) WHERE user_id IS NOT NULL;
