-- Text messages on a request: the phones given at create (E.164) and those no longer texted
-- (Twilio refused them for good, or the number texted STOP to the practice).
ALTER TABLE payment_requests ADD COLUMN phones text[] NOT NULL DEFAULT '{}';
ALTER TABLE payment_requests ADD COLUMN rejected_phones text[] NOT NULL DEFAULT '{}';
