-- Sign-in: throttling shared by every instance, the sign-in audit with its
-- own retention, one-time links, TOTP and OpenID Connect identities.

-- Failed sign-ins per (typed address, client): each failure past a few
-- pushes blocked_until further out, exponentially. Only this pair is
-- slowed, so nobody can lock an account's owner out by guessing from
-- elsewhere. account is the address as typed, known or not.
CREATE TABLE signin_throttle (
    account       text NOT NULL,
    client        text NOT NULL,
    failures      int NOT NULL,
    last_at       timestamptz NOT NULL,
    blocked_until timestamptz NOT NULL,
    PRIMARY KEY (account, client)
);
CREATE INDEX signin_throttle_last ON signin_throttle (last_at);

-- Failed sign-ins per client over a fixed window, whatever the account:
-- the budget that bounds guessing over many addresses.
CREATE TABLE signin_budget (
    client       text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    failures     int NOT NULL
);
CREATE INDEX signin_budget_window ON signin_budget (window_start);

-- The sign-in audit: every sign-in, failure, link request, MFA enrolment and
-- password change, kept for audit_retention (the purge deletes older rows).
-- email is the address as given, so failures for unknown addresses are
-- recorded too; user_id is set when it names a user.
CREATE TABLE signin_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    user_id    bigint REFERENCES users(id) ON DELETE SET NULL,
    email      text NOT NULL,
    event      text NOT NULL,
    method     text NOT NULL DEFAULT '',
    ip         text NOT NULL DEFAULT '',
    client     text NOT NULL DEFAULT '', -- User-Agent, shortened
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX signin_audit_at ON signin_audit (at);
CREATE INDEX signin_audit_email ON signin_audit (email, at);

-- One-time links mailed for signing in (customers) and for resetting a
-- password. The token is never stored: it is derived from the server secret
-- and nonce when the mail is built (package signinlink), and only its
-- SHA-256 is kept to find the row when the link is opened. A link is bound
-- to the address it was sent to, used once, and dies at expires_at.
CREATE TABLE signin_links (
    id              bigserial PRIMARY KEY,
    hash            bytea NOT NULL UNIQUE,
    nonce           bytea NOT NULL,
    purpose         text NOT NULL CHECK (purpose IN ('signin', 'reset')),
    email           text NOT NULL,
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id bigint REFERENCES conversations(id) ON DELETE SET NULL, -- where it leads, if anywhere
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX signin_links_email ON signin_links (email, created_at);
CREATE INDEX signin_links_expires ON signin_links (expires_at);

-- TOTP second factor (RFC 6238). The secret is kept encrypted under a key
-- derived from the server secret (web/mfa.go); enabled_at is NULL while an
-- enrolment waits for its first code. last_step is the newest time step a
-- code was accepted for: a code is never accepted twice.
CREATE TABLE user_mfa (
    user_id    bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret     bytea NOT NULL,
    enabled_at timestamptz,
    last_step  bigint NOT NULL DEFAULT 0
);

-- Ten one-time recovery codes per enrolment, only their SHA-256.
CREATE TABLE mfa_recovery (
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash    bytea NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, hash)
);

-- A session signed in by password that still owes a second factor ('mfa')
-- or must enrol one first ('enrol') reaches only those pages.
ALTER TABLE sessions ADD COLUMN stage text NOT NULL DEFAULT 'full' CHECK (stage IN ('full', 'mfa', 'enrol'));
