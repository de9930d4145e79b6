"""The body that registers the practice's webhook endpoint."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from api.schemas.fields import Strict, _single_line


class WebhookEndpointIn(Strict):
    url: str = Field(
        max_length=2048,
        description="An https URL whose host is public: loopback, private, link-local, shared "
        "(CGNAT), multicast, reserved and unspecified addresses, in any spelling, are refused.",
        examples=["https://pms.example.com/hooks/payreq"],
    )
    secret: (
        Annotated[str, Field(min_length=16, max_length=200), AfterValidator(_single_line)] | None
    ) = Field(None, description="HMAC key; generated and returned once when omitted.")

    @field_validator("url")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # Where it may point (https, public addresses) is checked by the route, which knows
        # the settings and resolves the name: payreq/egress.py.
        return _single_line(value)
