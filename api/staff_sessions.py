"""Staff sessions: the short-lived client secret that authorises everything the embedded panel
does, for one practice and one patient.

The practice software's backend creates one with its API key (POST /v1/staff-sessions) and
puts the secret in the panel's iframe URL; the panel's script then sends it in the
`Payreq-Staff-Session` header (a header, not a cookie: third-party cookies in iframes are
unreliable, and a header cannot be sent by another site's form). Only the secret's sha256 is
stored. An unknown, forged and expired secret are the same 401 to the caller.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import asyncpg
from fastapi import Depends, Header
from pydantic import Field, StrictInt, model_validator

from api.deps import DEFAULTS_COLUMNS, Deps, Practice, defaults_of
from api.errors import ApiError
from api.schemas.fields import (
    CURRENCIES,
    Facility,
    Identifier,
    Name,
    OptionalEmails,
    PatientIn,
    Phones,
    Strict,
)
from payreq.digest import sha256

SESSION_TTL = timedelta(minutes=15)
SECRET_PREFIX = "pss_"
SECRET_BYTES = 32  # 256 bits from `secrets`
SECRET_HEADER = "Payreq-Staff-Session"
MAX_FACILITIES = 50
MAX_SECRET_LENGTH = 200


class StaffIn(Strict):
    id: Identifier
    name: Name


class StaffPatientIn(PatientIn):
    """The patient, and optionally their own addresses and phones: the request window is
    pre-filled with them (validated as on create, so a bad one is a 422 here, not later)."""

    emails: OptionalEmails = []
    phones: Phones = []


class StaffSessionIn(Strict):
    """What the practice software knows about the patient the panel is opened for."""

    patient: StaffPatientIn
    balance_due: StrictInt = Field(gt=0, le=99_999_999, description="Cents.")
    currency: str = Field("usd", pattern="^[a-z]{3}$")
    facilities: list[Facility] = Field(min_length=1, max_length=MAX_FACILITIES)
    default_facility_id: Identifier | None = None
    staff: StaffIn

    @model_validator(mode="after")
    def _consistent(self) -> StaffSessionIn:
        if self.currency not in CURRENCIES:
            raise ValueError("unknown currency: use a lower-case ISO 4217 code such as usd")
        ids = [f.id for f in self.facilities]
        if len(set(ids)) != len(ids):
            raise ValueError("facility ids must be unique")
        if self.default_facility_id is not None and self.default_facility_id not in ids:
            raise ValueError("default_facility_id must be the id of one of the facilities")
        return self


@dataclass(frozen=True)
class StaffSession:
    practice: Practice
    patient: PatientIn
    patient_emails: tuple[str, ...]
    patient_phones: tuple[str, ...]
    balance_due: int
    currency: str
    facilities: tuple[Facility, ...]
    default_facility_id: str | None
    staff: StaffIn
    expires_at: datetime
    secret_hash: bytes

    def facility(self, facility_id: str) -> Facility | None:
        return next((f for f in self.facilities if f.id == facility_id), None)


def hash_secret(secret: str) -> bytes:
    return sha256(secret)


async def create_session(
    pool: asyncpg.Pool, practice: Practice, body: StaffSessionIn, now: datetime
) -> tuple[str, datetime]:
    """A new secret for this practice and patient; returns (secret, expires_at)."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    expires_at = now + SESSION_TTL
    await pool.execute(
        """INSERT INTO staff_sessions (secret_hash, practice_id, patient_id, patient_first_name,
               patient_last_name, balance_due, currency, facilities, default_facility_id,
               staff_id, staff_name, expires_at, api_key_hash, patient_emails, patient_phones)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14, $15)""",
        hash_secret(secret),
        practice.id,
        body.patient.id,
        body.patient.first_name,
        body.patient.last_name,
        body.balance_due,
        body.currency,
        json.dumps([f.model_dump() for f in body.facilities]),
        body.default_facility_id,
        body.staff.id,
        body.staff.name,
        expires_at,
        practice.key_hash,
        body.patient.emails,
        body.patient.phones,
    )
    # Expired sessions are useless; sweep a few on the way so the table stays small.
    await pool.execute(
        """DELETE FROM staff_sessions WHERE secret_hash IN (
               SELECT secret_hash FROM staff_sessions
               WHERE expires_at < $1::timestamptz - interval '1 day' LIMIT 100)""",
        now,
    )
    return secret, expires_at


async def find_session(pool: asyncpg.Pool, secret: str, now: datetime) -> StaffSession | None:
    if not secret.startswith(SECRET_PREFIX) or len(secret) > MAX_SECRET_LENGTH:
        return None
    row = await pool.fetchrow(
        f"""SELECT s.*, p.name AS practice_name, {DEFAULTS_COLUMNS} FROM staff_sessions s
           JOIN practices p ON p.id = s.practice_id
           -- valid only while the API key that minted it is (revoking deletes them, too)
           JOIN api_keys k ON k.key_hash = s.api_key_hash AND k.revoked_at IS NULL
           WHERE s.secret_hash = $1 AND s.expires_at > $2""",
        hash_secret(secret),
        now,
    )
    if row is None:
        return None
    return StaffSession(
        practice=Practice(
            id=row["practice_id"], name=row["practice_name"], defaults=defaults_of(row)
        ),
        patient=PatientIn(
            id=row["patient_id"],
            first_name=row["patient_first_name"],
            last_name=row["patient_last_name"],
        ),
        patient_emails=tuple(row["patient_emails"]),
        patient_phones=tuple(row["patient_phones"]),
        balance_due=row["balance_due"],
        currency=row["currency"],
        facilities=tuple(Facility(**f) for f in json.loads(row["facilities"])),
        default_facility_id=row["default_facility_id"],
        staff=StaffIn(id=row["staff_id"], name=row["staff_name"]),
        expires_at=row["expires_at"],
        secret_hash=bytes(row["secret_hash"]),
    )


async def embed_origins(pool: asyncpg.Pool, practice_id: str) -> list[str]:
    row = await pool.fetchval("SELECT embed_origins FROM practices WHERE id = $1", practice_id)
    return list(row or [])


def _unauthorized() -> ApiError:
    return ApiError(
        401, "session_invalid", "This panel session is not valid or has expired; reopen the panel."
    )


async def current_session(
    deps: Deps,
    secret: Annotated[
        str | None,
        Header(alias=SECRET_HEADER, description="The staff session's client_secret."),
    ] = None,
) -> StaffSession:
    if not secret:
        raise _unauthorized()
    found = await find_session(deps.pool, secret, datetime.now(UTC))
    if found is None:
        raise _unauthorized()
    return found


CurrentSession = Annotated[StaffSession, Depends(current_session)]
