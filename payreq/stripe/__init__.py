"""Stripe's one home (the gateway): everything the service asks of Stripe or learns from it.

- `client`: the pinned API version, the client, per-account request options, failure logs.
- `cards`: the card's label ("visa •••• 4242").
- `refunds`: refund-once (the only writer of the `refunds` table).
- `payments`: one PaymentIntent per pay attempt (the pay page's charge).
- `inbox`: a Stripe event (webhook or reconciliation) turned into a workflow signal.
- `accounts`: which connected account a practice, request or payment belongs to.

A practice with `stripe_account_id` is charged on that connected account (direct charges):
every call made for it carries the `Stripe-Account` header. A practice without one is
charged on the platform's own account.
"""
