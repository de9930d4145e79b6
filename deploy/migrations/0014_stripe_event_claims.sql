-- A Stripe event is claimed for a while (`claimed_until`) by the delivery that handles it, in
-- one statement, instead of being row-locked across the signal to Temporal: the connection
-- goes back to the pool while the workflow is signalled. A claim whose holder died lapses.
ALTER TABLE stripe_events ADD COLUMN claimed_until timestamptz;
