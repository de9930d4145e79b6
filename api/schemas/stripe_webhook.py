"""What the Stripe webhook answers."""

from __future__ import annotations

from pydantic import BaseModel


class WebhookAck(BaseModel):
    received: bool = True
    outcome: str
