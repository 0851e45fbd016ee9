-- Issue 10: trust in inbound mail.

-- What the receiving MTA's Authentication-Results (RFC 8601) said of an
-- inbound mail's sender, where sender_auth is configured: staff see a mail
-- that was not verified marked so.
CREATE TABLE sender_checks (
    message_id  bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    verified    boolean NOT NULL,
    reason      text NOT NULL DEFAULT ''
);

-- A staff reply by mail whose sender was not verified: stored as an internal
-- note (kind 'note', staff only) and sent to the customer only when the staff
-- member it claims to come from releases it in the web view.
CREATE TABLE held_replies (
    message_id          bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    user_id             bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason              text NOT NULL,
    released_at         timestamptz,
    released_message_id bigint REFERENCES messages(id) ON DELETE SET NULL
);
CREATE INDEX held_replies_released ON held_replies (released_message_id) WHERE released_message_id IS NOT NULL;
CREATE INDEX held_replies_user ON held_replies (user_id);

-- Acknowledgements counted per remote domain (conversation's DomainLimit).
CREATE INDEX outbox_received_domain ON outbox (split_part(recipient, '@', 2), created_at) WHERE template = 'received';
