-- The practice's books: the practice-wide payments export, and a minimum partial payment as a
-- percentage of what remains.

-- GET /v1/payments walks one practice's payments newest first, by keyset.
CREATE INDEX payments_practice_paid_idx ON payments (practice_id, paid_at DESC, id DESC);

-- Where the money came from (`payments.source`) is added by 0009_offline_payments.sql.

ALTER TABLE practices ADD COLUMN min_payment_percent integer NOT NULL DEFAULT 0
    CHECK (min_payment_percent BETWEEN 0 AND 100);

-- The export's refund rows for refunds made outside the service look only at refunded payments.
CREATE INDEX payments_refunded_idx ON payments (practice_id) WHERE refunded_amount > 0;
