"""GET /embed/panel?session=<client_secret>: the staff panel, a server-rendered page meant for
an iframe on the practice software's Patient Billing page.

Framing is allowed only to the origins the practice configured (`embed_origins` on
/v1/practice, CSP frame-ancestors); with none configured the panel cannot be framed at all.
The page loads only its own script and stylesheet; its script sends the secret in a header to
/embed/api and posts its height and each request it sent to the configured origins only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from babel.numbers import get_currency_precision
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.deps import Deps
from api.errors import ApiError
from api.pay_page import STATIC_DIR, TEMPLATES_DIR
from api.staff_sessions import (
    MAX_SECRET_LENGTH,
    SESSION_TTL,
    StaffSession,
    embed_origins,
    find_session,
    hash_secret,
)
from payreq.rendering.locale import money

router = APIRouter(include_in_schema=False)
STATIC_FILES = {"panel.js": "text/javascript", "panel.css": "text/css"}
STATIC_MAX_AGE_SECONDS = 300

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def panel_headers(origins: list[str]) -> dict[str, str]:
    ancestors = " ".join(origins) if origins else "'none'"
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {ancestors}"
    )
    return {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",  # the secret is in this page's URL
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


def _major(amount: int, currency: str) -> str:
    precision = get_currency_precision(currency.upper())
    return f"{Decimal(amount).scaleb(-precision):.{precision}f}"


def _render(template: str, origins: list[str], status: int, **context: object) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=panel_headers(origins))


async def _origins_of_known_secret(deps: Deps, secret: str) -> list[str]:
    """An expired secret's page may still be shown inside the practice's own frame."""
    if len(secret) > MAX_SECRET_LENGTH:
        return []
    practice_id = await deps.pool.fetchval(
        "SELECT practice_id FROM staff_sessions WHERE secret_hash = $1", hash_secret(secret)
    )
    return await embed_origins(deps.pool, practice_id) if practice_id else []


def _panel_context(session: StaffSession, secret: str, origins: list[str]) -> dict[str, object]:
    default = session.default_facility_id or session.facilities[0].id
    return {
        "session": session,
        "secret": secret,
        "origins_json": json.dumps(origins),
        "balance": money(session.balance_due, session.currency),
        "balance_major": _major(session.balance_due, session.currency),
        "precision": get_currency_precision(session.currency.upper()),
        "default_facility_id": default,
        "default_emails": "; ".join(session.patient_emails),
        "default_phones": "; ".join(session.patient_phones),
        "ttl_minutes": int(SESSION_TTL.total_seconds() // 60),
    }


@router.get("/embed/panel", response_class=HTMLResponse)
async def panel_page(
    deps: Deps, session: Annotated[str, Query(max_length=MAX_SECRET_LENGTH)] = ""
) -> Response:
    found = await find_session(deps.pool, session, datetime.now(UTC)) if session else None
    if found is None:
        origins = await _origins_of_known_secret(deps, session) if session else []
        return _render("panel_expired.html", origins, 401)
    origins = await embed_origins(deps.pool, found.practice.id)
    return _render("panel.html", origins, 200, **_panel_context(found, session, origins))


@router.get("/static/panel/{name}")
async def panel_static(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", "No such file.")
    return FileResponse(
        STATIC_DIR / name,
        media_type=media_type,
        headers={
            "Cache-Control": f"public, max-age={STATIC_MAX_AGE_SECONDS}",
            "X-Content-Type-Options": "nosniff",
        },
    )
