"""`payreq`: the service's console script."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

import asyncpg

from payreq import cli_keys, db
from payreq.header_names import header_name_problem
from payreq.practices import create_practice
from payreq.settings import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI


def _optional_setting(name: str) -> str | None:
    """Read one setting without demanding the others (migrate needs only the database)."""
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class One(BaseSettings):
        model_config = SettingsConfigDict(env_file=".env", extra="ignore")
        database_url: str | None = None
        temporal_address: str | None = None

    value = getattr(One(), name)
    return str(value) if value else None


def _settings_value(name: str) -> str:
    value = _optional_setting(name)
    if not value:
        raise ConfigError(f"configuration error: {name.upper()}: required")
    return str(value)


async def _migrate() -> None:
    applied = await db.migrate_url(_settings_value("database_url"))
    sys.stdout.write(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none'}\n")
    if _optional_setting("temporal_address"):
        await _schedules_apply()
    else:  # a database-only run (a fresh database for tests, say): say what was left out
        sys.stdout.write("schedules: not applied (no TEMPORAL_ADDRESS): `payreq schedules apply`\n")


async def _schedules_apply() -> None:
    """The Temporal Schedules this service owns, created or brought up to date: run once per
    deploy (by `payreq migrate` and `payreq dev`), not by every worker that starts."""
    from activities.reconcile import SCHEDULE_ID, ensure_reconcile_schedule
    from payreq.settings import load_settings
    from payreq.temporal import connect_temporal

    settings = load_settings()
    client = await connect_temporal(settings)
    await ensure_reconcile_schedule(client, settings.temporal_task_queue)
    sys.stdout.write(f"schedule {SCHEDULE_ID}: applied\n")


async def _practice_create(name: str, timezone: str, reply_to: str | None) -> None:
    problem = header_name_problem(name)
    if problem:
        raise ConfigError(f"practice name {problem}")
    conn = await asyncpg.connect(_settings_value("database_url"))
    try:
        practice_id, key = await create_practice(conn, name, timezone=timezone, reply_to=reply_to)
    finally:
        await conn.close()
    sys.stdout.write(f"practice_id: {practice_id}\napi_key: {key}\n")
    sys.stdout.write("Keep the API key now: only its hash is stored, it cannot be shown again.\n")


def serve_api(host: str, port: int, mount: Callable[[FastAPI], None] | None = None) -> None:
    """`payreq api`. MOUNT adds routes to the app before it serves: the dev API's /dev/mail
    (payreq/dev/api.py); production passes nothing."""
    import uvicorn

    from api.app import create_app
    from payreq.logs import setup_logging
    from payreq.settings import load_settings

    settings = load_settings()
    setup_logging(settings)
    app = create_app(settings)
    if mount is not None:
        mount(app)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,  # payreq.logs owns the format (JSON or text) and the access line
        access_log=False,
        # X-Forwarded-For is read by the app, from TRUSTED_PROXIES only (api/client_address.py).
        proxy_headers=False,
        timeout_graceful_shutdown=20,
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="payreq", description="Payment Requests service.")
    sub = p.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run the whole embedded stack in the foreground")
    dev.add_argument("--data-dir", default=".payreq", help="where the stack keeps its data")
    dev.add_argument("--api-port", type=int, default=8000)
    dev.add_argument("--temporal-port", type=int, default=7233)
    dev.add_argument("--temporal-ui-port", type=int, default=8233)
    dev.add_argument("--smtp-port", type=int, default=8025)
    dev.add_argument("--stripe-port", type=int, default=8420)
    dev.add_argument("--billing-port", type=int, default=8001)
    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    sub.add_parser("worker", help="run the Temporal worker (same as python worker.py)")
    sub.add_parser("migrate", help="apply the database migrations, then the schedules")
    schedules = sub.add_parser("schedules", help="manage the Temporal Schedules")
    ssub = schedules.add_subparsers(dest="schedules_command", required=True)
    ssub.add_parser("apply", help="create or update the reconciliation schedule")
    practice = sub.add_parser("practice", help="manage practices")
    psub = practice.add_subparsers(dest="practice_command", required=True)
    create = psub.add_parser("create", help="create a practice and print its API key once")
    create.add_argument("name")
    create.add_argument("--timezone", default="UTC")
    create.add_argument("--reply-to", default=None)
    cli_keys.add_parser(psub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "migrate":
            asyncio.run(_migrate())
        elif args.command == "practice" and args.practice_command == "key":
            asyncio.run(cli_keys.run(args, _settings_value("database_url")))
        elif args.command == "schedules":
            asyncio.run(_schedules_apply())
        elif args.command == "practice":
            asyncio.run(_practice_create(args.name, args.timezone, args.reply_to))
        elif args.command == "worker":
            import worker

            return worker.main([])
        elif args.command == "api":
            serve_api(args.host, args.port)
        elif args.command == "dev":
            # The one import of the dev stack outside payreq/dev/, run for `payreq dev` only:
            # production never loads it (tests/unit/test_no_dev_imports.py).
            from payreq.dev import cli as dev_cli

            return dev_cli.main(args)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0


# Commands that open a Temporal client and then end at once.
_SHORT_LIVED_TEMPORAL = ("migrate", "schedules")


def run() -> NoReturn:
    """The console script. A short-lived command that used a Temporal client leaves without
    the interpreter's teardown: the SDK's Rust threads can abort it (`PyGILState_Release: thread
    state ... must be current`, temporalio/sdk-python#300), and a deploy step that finished its
    work would exit 134. Its work is done and committed by then; only the output is flushed."""
    argv = sys.argv[1:]
    code = main(argv)
    if argv[:1] and argv[0] in _SHORT_LIVED_TEMPORAL:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
