-- The whole domain: people and roles, categories, conversations and their
-- messages, the IMAP cursors, the outbox, the audit trail and the credentials.

CREATE TABLE roles (
    id          bigserial PRIMARY KEY,
    key         text NOT NULL UNIQUE,
    name        text NOT NULL,
    staff       boolean NOT NULL DEFAULT false,
    permissions text[] NOT NULL DEFAULT '{}',
    -- a role dropped from the config keeps its conversations; it just has no members
    active      boolean NOT NULL DEFAULT true
);

CREATE TABLE companies (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email)),
    name          text NOT NULL DEFAULT '',
    language      text NOT NULL DEFAULT 'en',
    company_id    bigint REFERENCES companies(id),
    password_hash text,
    from_config   boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_members (
    role_id bigint NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, user_id)
);
CREATE INDEX role_members_user ON role_members (user_id);

CREATE TABLE categories (
    id         bigserial PRIMARY KEY,
    key        text NOT NULL UNIQUE,
    name       text NOT NULL,
    retention  interval NOT NULL DEFAULT '4 years',
    allow_from text[] NOT NULL DEFAULT '{*}',
    active     boolean NOT NULL DEFAULT true
);

CREATE TABLE category_addresses (
    address     text PRIMARY KEY CHECK (address = lower(address)),
    category_id bigint NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    position    int NOT NULL DEFAULT 0 -- the config's order; the first address sends
);

CREATE TABLE category_roles (
    category_id bigint NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    role_id     bigint NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (category_id, role_id)
);

-- A person is the employee a conversation is about (not necessarily a user).
CREATE TABLE persons (
    id         bigserial PRIMARY KEY,
    company_id bigint REFERENCES companies(id),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX persons_name ON persons (coalesce(company_id, 0), name);

CREATE SEQUENCE conversation_number START 1000;

CREATE TABLE conversations (
    id              bigserial PRIMARY KEY,
    number          bigint NOT NULL UNIQUE DEFAULT nextval('conversation_number'),
    subject         text NOT NULL,
    category_id     bigint NOT NULL REFERENCES categories(id),
    status          text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'open', 'waiting', 'solved')),
    handler_id      bigint REFERENCES users(id),
    customer_id     bigint REFERENCES users(id),
    assignee_id     bigint REFERENCES users(id),
    company_id      bigint REFERENCES companies(id),
    person_id       bigint REFERENCES persons(id),
    legal_hold      boolean NOT NULL DEFAULT false,
    held_for_review boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    solved_at       timestamptz
);
CREATE INDEX conversations_updated ON conversations (updated_at DESC, id DESC);
CREATE INDEX conversations_customer ON conversations (customer_id);
CREATE INDEX conversations_company ON conversations (company_id);

CREATE TABLE conversation_roles (
    conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role_id         bigint NOT NULL REFERENCES roles(id),
    PRIMARY KEY (conversation_id, role_id)
);
CREATE INDEX conversation_roles_role ON conversation_roles (role_id, conversation_id);

CREATE TABLE participants (
    conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    email           text NOT NULL CHECK (email = lower(email)),
    user_id         bigint REFERENCES users(id),
    PRIMARY KEY (conversation_id, email)
);

-- Content stored once per sha256: attachments and raw sources.
CREATE TABLE blobs (
    sha256     bytea PRIMARY KEY CHECK (length(sha256) = 32),
    size       bigint NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    direction       text NOT NULL CHECK (direction IN ('in', 'out', 'internal')),
    kind            text NOT NULL CHECK (kind IN ('customer', 'staff', 'note', 'auto_reply', 'bounce', 'event')),
    author_id       bigint REFERENCES users(id),
    from_addr       text NOT NULL DEFAULT '',
    from_name       text NOT NULL DEFAULT '',
    to_addrs        text[] NOT NULL DEFAULT '{}',
    cc_addrs        text[] NOT NULL DEFAULT '{}',
    subject         text NOT NULL DEFAULT '',
    message_id      text,
    in_reply_to     text,
    refs            text[] NOT NULL DEFAULT '{}',
    text_body       text NOT NULL DEFAULT '',
    html_body       text NOT NULL DEFAULT '',
    raw_sha256      bytea REFERENCES blobs(sha256),
    problems        text[] NOT NULL DEFAULT '{}',
    -- sha256 of Message-ID, From, Date and Subject: recognises the same mail
    -- fetched again (UIDVALIDITY reset, a second mailbox) without trusting a
    -- Message-ID alone, which broken clients reuse
    fingerprint     bytea,
    event           text,           -- for kind 'event': routed, handler, solved, delivery_failed ...
    mailbox         text,           -- where an inbound mail came from
    uid_validity    bigint,
    uid             bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    search          tsvector GENERATED ALWAYS AS (
                        to_tsvector('simple', coalesce(subject, '') || ' ' || coalesce(from_addr, '') || ' ' || coalesce(text_body, ''))
                    ) STORED,
    UNIQUE (mailbox, uid_validity, uid)
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at, id);
CREATE INDEX messages_message_id ON messages (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX messages_search ON messages USING gin (search);
CREATE INDEX messages_fingerprint ON messages (fingerprint) WHERE fingerprint IS NOT NULL;
CREATE INDEX messages_from_recent ON messages (from_addr, created_at) WHERE direction = 'in';
CREATE INDEX messages_raw ON messages (raw_sha256) WHERE raw_sha256 IS NOT NULL;

CREATE TABLE attachments (
    id           text PRIMARY KEY,  -- random, unguessable
    message_id   bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    filename     text NOT NULL,
    content_type text NOT NULL,
    content_id   text,
    inline       boolean NOT NULL DEFAULT false,
    sha256       bytea NOT NULL REFERENCES blobs(sha256),
    size         bigint NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_sha256 ON attachments (sha256);

-- The only stable IMAP cursor is (UIDVALIDITY, UID) (RFC 3501 2.3.1.1).
CREATE TABLE mailboxes (
    name           text PRIMARY KEY,
    uid_validity   bigint NOT NULL DEFAULT 0,
    last_uid       bigint NOT NULL DEFAULT 0,
    connected      boolean NOT NULL DEFAULT false,
    idle_supported boolean NOT NULL DEFAULT false,
    last_success   timestamptz,
    last_error     text NOT NULL DEFAULT '',
    last_error_at  timestamptz,
    lag            interval NOT NULL DEFAULT '0',
    last_mail_at   timestamptz,    -- when the last new mail was stored
    alerted_at     timestamptz,    -- set while staff have been told of a problem: one alert, not one per poll
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    conversation_id bigint REFERENCES conversations(id) ON DELETE CASCADE,
    message_id      bigint REFERENCES messages(id) ON DELETE CASCADE,
    category_id     bigint REFERENCES categories(id), -- for mail about no conversation (mailbox alerts)
    detail          jsonb NOT NULL DEFAULT '{}',        -- template data that is not a row (alert reason); never content
    template        text NOT NULL,
    recipient       text NOT NULL,
    recipient_id    bigint REFERENCES users(id),
    mail_message_id text NOT NULL UNIQUE, -- generated and stored before the send
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_conversation ON outbox (conversation_id);
-- deleting a message (the purge) deletes its outbox rows through this
CREATE INDEX outbox_message ON outbox (message_id) WHERE message_id IS NOT NULL;

-- No foreign key to conversations: the trail outlives the purge. It never holds content.
CREATE TABLE audit (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_id        bigint REFERENCES users(id) ON DELETE SET NULL,
    actor           text NOT NULL,
    action          text NOT NULL,
    conversation_id bigint,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_conversation ON audit (conversation_id, at);
CREATE INDEX audit_unattached ON audit (action, at) WHERE conversation_id IS NULL; -- purge runs, alerts

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash         bytea NOT NULL UNIQUE,
    name         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);

CREATE TABLE sessions (
    hash       bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
