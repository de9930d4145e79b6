"""The card's label, "visa •••• 4242", from whatever Stripe object carries the card."""

from __future__ import annotations

from typing import Any

# PaymentIntent metadata: the card's label, set when the pay page creates the intent, so the
# webhook names the payment without calling Stripe while it holds the event's row.
CARD_LABEL_KEY = "card"


def card_label(card: dict[str, Any] | None) -> str | None:
    if not card or not card.get("last4"):
        return None
    return f"{card.get('brand') or 'card'} •••• {card['last4']}"


def card_from_intent(intent: dict[str, Any]) -> dict[str, Any] | None:
    """The card when the intent embeds it (expanded payment method or charge), else None."""
    pm = intent.get("payment_method")
    if isinstance(pm, dict) and pm.get("card"):
        return dict(pm["card"])
    charge = intent.get("latest_charge")
    charges = [charge] if isinstance(charge, dict) else []
    charges += (intent.get("charges") or {}).get("data") or []
    for c in charges:
        card = (c.get("payment_method_details") or {}).get("card")
        if card:
            return dict(card)
    return None
