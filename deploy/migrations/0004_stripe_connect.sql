-- Stripe Connect per practice, and one PaymentIntent per pay attempt (issue 12).

-- The practice's own connected account (direct charges), or NULL: charges go to the platform's
-- own account. One account belongs to one practice, so an event's `account` names its practice.
ALTER TABLE practices
    ADD COLUMN stripe_account_id text UNIQUE CHECK (stripe_account_id ~ '^acct_[A-Za-z0-9]{1,64}$'),
    ADD COLUMN statement_descriptor_suffix text CHECK (length(statement_descriptor_suffix) <= 22),
    -- The platform's fee on a connected account's charge, in basis points (250 = 2.5%).
    ADD COLUMN platform_fee_bps integer NOT NULL DEFAULT 0
        CHECK (platform_fee_bps BETWEEN 0 AND 10000);

-- attempt -> PaymentIntent: a retried POST of the same attempt finds the intent it made, so
-- it never charges twice even on a Stripe (localstripe) that ignores Idempotency-Key. Also
-- where a payment's connected account is remembered (its refunds and events live there).
CREATE TABLE stripe_payment_intents (
    attempt_key         text PRIMARY KEY,        -- request id : attempt id
    payment_intent_id   text NOT NULL UNIQUE,
    payment_request_id  text NOT NULL REFERENCES payment_requests (id),
    stripe_account_id   text,
    amount              bigint NOT NULL,
    payment_method      text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
