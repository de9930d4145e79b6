"""style.md "One writer per table": every table of the schema is written (INSERT INTO, UPDATE,
DELETE FROM, TRUNCATE, COPY) from exactly one production module, with its SQL beside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "deploy" / "migrations"
# The dev stack (payreq/dev/ once moved, its current files until then) is no production path.
DEV_ONLY = re.compile(r"^payreq/(dev/|dev\.py$|devhost\.py$|fakestripe|faketwilio)")

# The one writer of each table. payreq/db.py is the migration runner (schema_migrations).
WRITERS = {
    "api_keys": "payreq/practices.py",
    "email_deliveries": "activities/email.py",
    "email_templates": "api/template_store.py",
    "idempotency_keys": "api/idempotency.py",
    "outbound_events": "activities/read_model.py",
    "pay_tokens": "activities/read_model.py",
    "payment_requests": "activities/read_model.py",
    "payments": "payreq/tables/payments.py",
    "practices": "payreq/practices.py",
    "rate_limit_counters": "api/ratelimit.py",
    "reconcile_watermarks": "activities/reconcile.py",
    "refunds": "payreq/tables/refunds.py",
    "request_events": "payreq/tables/request_events.py",
    "schema_migrations": "payreq/db.py",
    "sms_deliveries": "activities/sms.py",
    "sms_opt_outs": "api/routes/twilio_webhook.py",
    "staff_sessions": "api/staff_sessions.py",
    "stripe_events": "payreq/tables/stripe_events.py",
    "stripe_payment_intents": "payreq/stripe/payments.py",
    "text_templates": "api/template_store.py",
    "twilio_callbacks": "api/routes/twilio_webhook.py",
    "webhook_endpoints": "api/routes/webhook_endpoint.py",
}

# Second writers not yet folded into the table's module: named here so that none is added
# unnoticed and each one removed turns this test red until its line goes too. request_events,
# payments and refunds (issue 14) have none left.
KNOWN_STRAYS = {
    "outbound_events": {"activities/webhooks.py"},  # delivery marks, beside the read model's
    "practices": {"api/routes/practice.py", "payreq/stripe/connect.py"},  # PATCH, onboarding
    "sms_deliveries": {"api/routes/twilio_webhook.py"},  # Twilio's status callbacks
    "staff_sessions": {"payreq/practices.py"},  # revoked with the practice's keys
}

_WRITE = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|COPY)\s+([A-Za-z_]\w*)",
    re.IGNORECASE,
)


def schema_tables() -> set[str]:
    text = "\n".join(p.read_text() for p in sorted(MIGRATIONS.glob("*.sql")))
    found = re.findall(r"CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?(\w+)", text, re.IGNORECASE)
    return {t.lower() for t in found} | {"schema_migrations"}


def production_files() -> list[Path]:
    files = [ROOT / "worker.py"]
    for top in ("workflows", "activities", "api", "payreq"):
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in (".py", ".sql")]
    return [p for p in files if not DEV_ONLY.match(p.relative_to(ROOT).as_posix())]


def writers() -> dict[str, set[str]]:
    tables = schema_tables()
    seen: dict[str, set[str]] = {}
    for path in production_files():
        for match in _WRITE.finditer(path.read_text()):
            table = match.group(1).lower()
            if table in tables:  # "DO UPDATE SET", prose in docstrings: not a table name
                seen.setdefault(table, set()).add(path.relative_to(ROOT).as_posix())
    return seen


def test_every_table_of_the_schema_has_its_one_writer_named() -> None:
    assert schema_tables() == set(WRITERS)


def test_the_scan_finds_the_writes_it_is_meant_to_find() -> None:
    found = writers()
    assert "activities/email.py" in found["email_deliveries"]
    assert "payreq/db.py" in found["schema_migrations"]


def test_each_table_is_written_from_its_one_module_only() -> None:
    strays = {t: m - {WRITERS[t]} for t, m in writers().items() if m - {WRITERS[t]}}
    assert strays == KNOWN_STRAYS
