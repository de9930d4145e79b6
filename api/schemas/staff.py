"""The staff panel's bodies: the session it is opened with, its create form, the address check."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictInt

from api.schemas.fields import MAX_NOTE, Strict


class StaffSessionOut(BaseModel):
    client_secret: str = Field(
        description="Put it in the panel's URL: /embed/panel?session=<client_secret>. Shown "
        "once; only its hash is stored.",
        examples=["pss_3q2-Xw..."],
    )
    expires_at: datetime = Field(examples=["2026-11-27T14:18:00Z"])


class PanelCreate(Strict):
    """The panel's form; the patient, balance and facility list come from the session."""

    amount: StrictInt
    first_name: str = Field(max_length=1000)
    last_name: str = Field(max_length=1000)
    facility_id: str = Field(max_length=1000)
    emails: str | list[str] = ""
    phones: str | list[str] = ""
    note: str = Field("", max_length=MAX_NOTE * 4)


class EmailsIn(Strict):
    emails: str = Field(max_length=10_000)


class AddressCheck(BaseModel):
    address: str
    error: str | None


class EmailsCheck(BaseModel):
    addresses: list[AddressCheck]
