"""The real worker (worker.build_worker) as its own OS process for the time-travel benchmark,
connected to the time-skipping test server: in the driver's process it shared one GIL with the
SMTP server and the driver, and the run was bound by that one core.

    python -m tests.bench._timetravel_worker '<json config>'

Prints "ready" once polling, and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import httpx
from temporalio.client import Client

from payreq.codec import Keyring
from payreq.components import connect_pool
from payreq.smtp import SmtpConfig
from payreq.temporal import converter_for, workflow_runner
from tests.support import PUBLIC_BASE_URL, TEST_PAYLOAD_KEY, stripe_client
from worker import build_email_worker, build_worker

POOL_SIZE = 20
HTTP_TIMEOUT_SECONDS = 5.0


async def serve(cfg: dict[str, Any]) -> None:
    client = await Client.connect(
        cfg["target"],
        namespace=cfg["namespace"],
        data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY)),
    )
    pool = await connect_pool(cfg["database_url"], min_size=2, max_size=POOL_SIZE)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
            worker = build_worker(
                client,
                task_queue=cfg["task_queue"],
                pool=pool,
                smtp=SmtpConfig(**cfg["smtp"]),
                stripe=stripe_client(cfg["stripe_base"]),
                public_base_url=PUBLIC_BASE_URL,
                keyring=Keyring.parse(TEST_PAYLOAD_KEY),
                http=http,
                runner=workflow_runner(cfg["workflow_sandbox"]),
            )
            emails = build_email_worker(
                client,
                task_queue=cfg["task_queue"],
                pool=pool,
                smtp=SmtpConfig(**cfg["smtp"]),
            )
            async with worker, emails:
                print("ready", flush=True)
                await stop.wait()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))
