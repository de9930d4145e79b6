-- Text messages (Twilio): one row per text and recipient, the opt-out list per practice and
-- number, and every callback Twilio made (idempotency by MessageSid).

CREATE TABLE sms_deliveries (
    delivery_key        text PRIMARY KEY,    -- request id : kind : sequence : phone
    payment_request_id  text NOT NULL,
    practice_id         text NOT NULL REFERENCES practices (id),
    kind                text NOT NULL,
    sequence            integer NOT NULL,
    recipient           text NOT NULL,       -- E.164
    message_sid         text UNIQUE,
    status              text NOT NULL,       -- sending, queued, sent, delivered, undelivered,
                                             -- failed, rejected, opted_out
    error_code          text,
    attempts            integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_deliveries_request_idx ON sms_deliveries (payment_request_id);
CREATE INDEX sms_deliveries_recipient_idx ON sms_deliveries (recipient, practice_id);

-- A number that texted STOP to a practice gets no more texts from it until START/UNSTOP.
CREATE TABLE sms_opt_outs (
    practice_id         text NOT NULL REFERENCES practices (id),
    phone               text NOT NULL,
    opted_out           boolean NOT NULL,
    keyword             text NOT NULL,
    message_sid         text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (practice_id, phone)
);

-- Each inbound message once by MessageSid; each status once by (MessageSid, status), kept so
-- a callback that arrives before the send recorded its sid is applied when it does.
CREATE TABLE twilio_callbacks (
    message_sid         text NOT NULL,
    kind                text NOT NULL,       -- inbound, status
    status              text NOT NULL,       -- the MessageStatus, or 'received'
    error_code          text,
    received_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_sid, kind, status)
);
