-- Front-desk payments (issue 16.2): money taken outside the link is a payment too, told apart by
-- its source; its reference is the desk's own note (cheque number, terminal slip).
ALTER TABLE payments ADD COLUMN source text NOT NULL DEFAULT 'link'
    CHECK (source IN ('link', 'offline'));
ALTER TABLE payments ADD COLUMN reference text NOT NULL DEFAULT '';
