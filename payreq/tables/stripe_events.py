"""The one writer of `stripe_events`: the Stripe inbox's claim of an event, its release and
its mark (payreq/stripe/inbox.py `receive`), and the mark a workflow's save makes for the
payment events it recorded (activities/read_model.py)."""

from __future__ import annotations

# One statement: the claim, whether the event was handled before, and (for a payment event)
# the request its metadata names with the account its payment belongs to (payment_account's
# rule, payreq/stripe/accounts.py). A claim is taken on a new event, or on one neither handled
# nor claimed by a delivery still within its lease.
CLAIM = """
WITH claim AS (
    INSERT INTO stripe_events AS s (id, type, claimed_until) VALUES ($1, $2, now() + $3)
    ON CONFLICT (id) DO UPDATE SET claimed_until = EXCLUDED.claimed_until
    WHERE s.handled_at IS NULL AND (s.claimed_until IS NULL OR s.claimed_until < now())
    RETURNING s.claimed_until
)
SELECT (SELECT claimed_until FROM claim) AS claimed,
       (SELECT handled_at IS NOT NULL FROM stripe_events WHERE id = $1) AS handled,
       r.practice_id,
       i.payment_intent_id IS NOT NULL AS known,
       i.stripe_account_id AS made_on,
       p.stripe_account_id AS practice_account
FROM (VALUES (1)) AS one (x)
LEFT JOIN payment_requests r ON r.id = $4::text
LEFT JOIN practices p ON p.id = r.practice_id
LEFT JOIN stripe_payment_intents i ON i.payment_intent_id = $5::text
"""


def mark_handled(*, request: str, ids: str) -> str:
    """The Stripe events `ids` (a text array parameter) marked handled for request `request`:
    by the inbox (`HANDLED`), or, as a data-modifying CTE of the read model's save, for the
    payment events whose payments the saving workflow recorded (payreq/stripe/inbox.py
    `receive` leaves a payment event handed to a running workflow to that save)."""
    return f"""
    UPDATE stripe_events SET handled_at = now(), claimed_until = NULL,
        payment_request_id = {request}
    WHERE id = ANY({ids}::text[]) AND handled_at IS NULL"""


HANDLED = mark_handled(request="$2", ids="$1")


# Only the claim this delivery holds (not one a later delivery took after it lapsed).
RELEASE = """DELETE FROM stripe_events
    WHERE id = $1 AND handled_at IS NULL AND claimed_until = $2"""
