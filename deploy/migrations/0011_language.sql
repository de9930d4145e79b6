-- The patient's language (issue 16, part 3): each request keeps the language it was created in,
-- the practice has a default for requests created without one, and a practice's email and text
-- templates are per kind and language.
ALTER TABLE practices ADD COLUMN default_language text NOT NULL DEFAULT 'en'
    CHECK (default_language IN ('en', 'es'));
ALTER TABLE payment_requests ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language IN ('en', 'es'));

ALTER TABLE email_templates ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language IN ('en', 'es'));
ALTER TABLE email_templates DROP CONSTRAINT email_templates_pkey;
ALTER TABLE email_templates ADD PRIMARY KEY (practice_id, kind, language);

CREATE TABLE text_templates (
    practice_id  text NOT NULL REFERENCES practices (id),
    kind         text NOT NULL,
    language     text NOT NULL CHECK (language IN ('en', 'es')),
    body         text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (practice_id, kind, language)
);
