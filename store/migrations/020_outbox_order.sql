-- Issue 13: several SMTP sessions at once (smtp.sessions) keep the order in
-- which one person hears of one conversation. A row is claimed only when no
-- earlier row of the same conversation and recipient is pending and either
-- due (it is claimed first) or in flight (claimed_at set: claimed, its
-- outcome not recorded yet). A row waiting for its next try (a temporary
-- failure) holds nothing back: a failing mail never blocks the mail behind it.
ALTER TABLE outbox ADD COLUMN claimed_at timestamptz;

CREATE INDEX outbox_pending_thread ON outbox (conversation_id, recipient, id) WHERE status = 'pending';
