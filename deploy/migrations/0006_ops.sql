-- Pay-link tokens are derived from the request id with a key of the payload keyring
-- (payreq/pay_links.py): the key's id is kept so the link can be shown again; the token never.
ALTER TABLE pay_tokens ADD COLUMN key_id text;

-- Idempotency rows expire after their window (api/idempotency.py deletes them as it claims).
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
