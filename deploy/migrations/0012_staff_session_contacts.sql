-- The staff panel (issue 16.5): the practice software may give the patient's own addresses and
-- phones when it opens a session, so the request window is pre-filled with them each time.
ALTER TABLE staff_sessions ADD COLUMN patient_emails text[] NOT NULL DEFAULT '{}';
ALTER TABLE staff_sessions ADD COLUMN patient_phones text[] NOT NULL DEFAULT '{}';
