-- The read model and the service's own records. Money is bigint minor units throughout.

CREATE TABLE practices (
    id                     text PRIMARY KEY,
    name                   text NOT NULL,
    timezone               text NOT NULL DEFAULT 'UTC',
    reminder_send_time     time NOT NULL DEFAULT '10:00',
    reminders_on_weekends  boolean NOT NULL DEFAULT false,
    reply_to               text,
    min_payment_amount     bigint NOT NULL DEFAULT 100 CHECK (min_payment_amount > 0),
    default_reminder_days  integer[] NOT NULL DEFAULT '{3,7,14,30}',
    default_expires_in_days integer NOT NULL DEFAULT 60,
    created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_hash     bytea PRIMARY KEY,          -- sha256 of the key; the key itself is never stored
    practice_id  text NOT NULL REFERENCES practices (id),
    key_prefix   text NOT NULL,              -- first characters, to tell keys apart in a list
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE payment_requests (
    id                text PRIMARY KEY,
    practice_id       text NOT NULL REFERENCES practices (id),
    patient_id        text NOT NULL,
    version           bigint NOT NULL,
    status            text NOT NULL,
    first_name        text NOT NULL,
    last_name         text NOT NULL,
    facility_id       text NOT NULL,
    facility_name     text NOT NULL,
    emails            text[] NOT NULL,
    note              text NOT NULL DEFAULT '',
    currency          text NOT NULL,
    amount_requested  bigint NOT NULL CHECK (amount_requested > 0),
    amount_paid       bigint NOT NULL DEFAULT 0,
    amount_remaining  bigint NOT NULL,
    amount_overpaid   bigint NOT NULL DEFAULT 0,
    reminders_sent    integer NOT NULL DEFAULT 0,
    reminders_paused  boolean NOT NULL DEFAULT false,
    next_reminder_at  timestamptz,
    expires_at        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    closed_at         timestamptz
);
-- The patient's "Payment Requests" list: one practice, one patient, newest first.
CREATE INDEX payment_requests_patient_idx
    ON payment_requests (practice_id, patient_id, created_at DESC, id DESC);

CREATE TABLE payments (
    id                  text PRIMARY KEY,    -- Stripe PaymentIntent id
    payment_request_id  text NOT NULL REFERENCES payment_requests (id),
    practice_id         text NOT NULL,
    patient_id          text NOT NULL,
    amount              bigint NOT NULL,
    applied_amount      bigint NOT NULL DEFAULT 0,
    currency            text NOT NULL,
    status              text NOT NULL,
    method              text,
    refunded_amount     bigint NOT NULL DEFAULT 0,
    paid_at             timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_patient_idx ON payments (practice_id, patient_id, paid_at DESC, id DESC);
CREATE INDEX payments_request_idx ON payments (payment_request_id);

CREATE TABLE request_events (
    payment_request_id  text NOT NULL REFERENCES payment_requests (id),
    seq                 integer NOT NULL,
    at                  timestamptz NOT NULL,
    type                text NOT NULL,
    detail              text NOT NULL DEFAULT '',
    PRIMARY KEY (payment_request_id, seq)
);

CREATE TABLE pay_tokens (
    token_hash          bytea PRIMARY KEY,   -- sha256 of the token; the token is never stored
    payment_request_id  text NOT NULL UNIQUE REFERENCES payment_requests (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    revoked_at          timestamptz
);

CREATE TABLE email_deliveries (
    delivery_key        text PRIMARY KEY,    -- request id : kind : sequence : recipient
    payment_request_id  text NOT NULL,
    kind                text NOT NULL,
    sequence            integer NOT NULL,
    recipient           text NOT NULL,
    message_id          text NOT NULL,
    status              text NOT NULL,       -- sending, accepted, retrying, rejected
    smtp_reply          text,
    attempts            integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_deliveries_request_idx ON email_deliveries (payment_request_id);

CREATE TABLE refunds (
    idempotency_key     text PRIMARY KEY,    -- request id : reason : payment id
    payment_request_id  text NOT NULL,
    payment_id          text NOT NULL,
    amount              bigint NOT NULL CHECK (amount > 0),
    reason              text NOT NULL,
    stripe_refund_id    text,
    status              text NOT NULL,       -- requested, succeeded, pending, failed
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stripe_events (
    id                  text PRIMARY KEY,
    type                text NOT NULL,
    payment_request_id  text,
    received_at         timestamptz NOT NULL DEFAULT now(),
    handled_at          timestamptz
);

CREATE TABLE email_templates (
    practice_id  text NOT NULL REFERENCES practices (id),
    kind         text NOT NULL,
    subject      text NOT NULL,
    html         text NOT NULL,
    text         text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (practice_id, kind)
);

CREATE TABLE webhook_endpoints (
    practice_id  text PRIMARY KEY REFERENCES practices (id),
    url          text NOT NULL,
    secret       text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbound_events (
    id            text PRIMARY KEY,          -- stable, for the receiver's de-duplication
    practice_id   text NOT NULL,
    type          text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);

CREATE TABLE idempotency_keys (
    practice_id    text NOT NULL,
    key            text NOT NULL,
    request_hash   bytea NOT NULL,
    status_code    integer,
    response       jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (practice_id, key)
);
