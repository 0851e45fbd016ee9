-- The acknowledgement limit per remote domain (store.RecentReceipts) runs for
-- every new conversation; without this index it reads the whole outbox,
-- which keeps every mail sent for as long as its conversation lives.
CREATE INDEX outbox_receipts ON outbox (split_part(recipient, '@', 2), created_at) WHERE template = 'received';
