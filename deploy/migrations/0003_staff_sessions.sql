-- The embeddable staff panel (issue 8).
-- Origins allowed to embed the panel in an iframe (CSP frame-ancestors) and to receive its
-- postMessage events: exact origins such as 'https://pms.example.com'. Empty: nobody.
ALTER TABLE practices ADD COLUMN embed_origins text[] NOT NULL DEFAULT '{}';

-- Short-lived client secrets of the panel: one practice, one patient, 15 minutes. Only the
-- sha256 of the secret is stored. What the practice software said about the patient (name,
-- balance due, facilities, staff member) is kept here so the panel never asks the browser.
CREATE TABLE staff_sessions (
    secret_hash          bytea PRIMARY KEY,
    practice_id          text NOT NULL REFERENCES practices (id),
    patient_id           text NOT NULL,
    patient_first_name   text NOT NULL,
    patient_last_name    text NOT NULL,
    balance_due          bigint NOT NULL CHECK (balance_due > 0),
    currency             text NOT NULL,
    facilities           jsonb NOT NULL,        -- [{"id", "name"}, ...]
    default_facility_id  text,
    staff_id             text NOT NULL,
    staff_name           text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL
);
CREATE INDEX staff_sessions_expires_idx ON staff_sessions (expires_at);
