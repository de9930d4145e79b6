"""`payreq dev` only: a second, separate origin standing in for the practice software.

It serves a fake "Patient Billing" page that, like a practice's backend would, creates a staff
session with the demo API key and embeds the staff panel in an iframe, so the panel's
frame-ancestors and postMessage rules are exercised across real origins. Never part of the
API or of production pages. (The Stripe.js stand-in in static/ is served by the fake Stripe,
payreq/dev/fakestripe_element.py.)

Run by `payreq dev` as `python -m payreq.dev.billing_host --port N` with PAYREQ_DEVHOST_API_URL and
PAYREQ_DEVHOST_API_KEY in the environment.
"""

from __future__ import annotations

import argparse
import html
import os
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

STATIC = Path(__file__).resolve().parent / "static"
FILES = {
    "billing.js": "text/javascript",
    "billing.css": "text/css",
}
SESSION_TIMEOUT_SECONDS = 10.0
DEMO_PATIENT = {"id": "pt_demo_ana", "first_name": "Ana", "last_name": "Lopez"}
DEMO_SESSION: dict[str, Any] = {
    "patient": DEMO_PATIENT,
    "balance_due": 18500,
    "facilities": [
        {"id": "fac_downtown", "name": "Downtown Clinic"},
        {"id": "fac_uptown", "name": "Uptown Clinic"},
    ],
    "default_facility_id": "fac_downtown",
    "staff": {"id": "staff_demo", "name": "Sam Rivera"},
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Patient Billing: {name} (demo practice software)</title>
  <link rel="stylesheet" href="/static/billing.css">
  <script src="/static/billing.js" defer></script>
</head>
<body>
  <header class="app-bar"><p>Demo Practice Software</p></header>
  <main id="billing" data-panel-origin="{origin}">
    <h1>Patient Billing: {name}</h1>
    <p class="meta">Patient {patient_id} &middot; Balance due {balance}</p>
    <p id="host-log" role="status" aria-live="polite"></p>
    <iframe id="payreq-panel" title="Payment requests for {name}" src="{src}"></iframe>
  </main>
</body>
</html>
"""


def _origin(url: str) -> str:
    parts = httpx.URL(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.host}{port}"


def create_app(api_url: str, api_key: str) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    api_origin = _origin(api_url)
    headers = {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            f"frame-src {api_origin}; base-uri 'none'; form-action 'none'"
        ),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }

    @app.get("/", response_class=HTMLResponse)
    async def billing_page() -> Response:
        async with httpx.AsyncClient(timeout=SESSION_TIMEOUT_SECONDS) as http:
            resp = await http.post(
                f"{api_url}/v1/staff-sessions",
                json=DEMO_SESSION,
                headers={"Authorization": f"Bearer {api_key}"},
            )
        if resp.status_code != 201:
            return HTMLResponse(
                f"<p>Could not open a staff session: {html.escape(resp.text)}</p>", 502
            )
        secret = resp.json()["client_secret"]
        name = f"{DEMO_PATIENT['first_name']} {DEMO_PATIENT['last_name']}"
        page = _PAGE.format(
            name=html.escape(name),
            origin=html.escape(api_origin),
            patient_id=html.escape(DEMO_PATIENT["id"]),
            balance="$185.00",
            src=html.escape(f"{api_url}/embed/panel?session={secret}"),
        )
        return HTMLResponse(page, headers=headers)

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in FILES:
            return Response(status_code=404)
        return FileResponse(STATIC / name, media_type=FILES[name])

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m payreq.dev.billing_host")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(os.environ["PAYREQ_DEVHOST_API_URL"], os.environ["PAYREQ_DEVHOST_API_KEY"])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
