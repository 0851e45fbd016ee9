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
