-- Reconciliation of Stripe payments against the workflows (issue 4): how far the last run got.
-- `last_created` is a Stripe `created` instant (unix seconds); each run re-reads a little
-- before it, so an event created during the previous run is never skipped.
CREATE TABLE reconcile_watermarks (
    name          text PRIMARY KEY,
    last_created  bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
