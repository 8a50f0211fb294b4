-- A wallet credit or a renewal sent twice (a retry after a lost answer, a second tap on a phone)
-- is done once. The caller names the request with a key of its choosing (the API's
-- Idempotency-Key header; the console puts a fresh one in each form it shows); the transaction
-- it wrote carries the key, unique within the tenant, and a request with a key already used
-- answers what the first one did instead of moving money again.

ALTER TABLE wallet_transactions ADD COLUMN idempotency_key UUID;
CREATE UNIQUE INDEX idx_wallet_transactions_idempotency
    ON wallet_transactions (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
