"""`payreq dev` end to end, as a newcomer runs it: start, create, read the mail, pay part,
Ctrl-C, nothing left running, start again on the same data and find the request still open with
its reminder still scheduled."""

from __future__ import annotations

import json
import mailbox
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from payreq.dev.fakestripe_element import STAND_IN_PATH
from tests.integration.smshelp import zone_inside_window
from tests.support import BIN_DIR, eventually, free_port, stripe_client
from workflows.types import SA_NEXT_ACTION_AT, workflow_id

pytestmark = pytest.mark.timeout(150)
READY_TIMEOUT_SECONDS = 60.0
CREATE = {
    "patient": {"id": "pt_9", "first_name": "Ana", "last_name": "Lopez"},
    "balance_due": 18500,
    "facility": {"id": "fac_1", "name": "Downtown Clinic"},
    "emails": "ana@example.com",
    "phones": "+14155552671",
    "note": "For your visit on Nov 3.",
}


class DevStack:
    """One `payreq dev` process on free ports, its output in a file."""

    def __init__(self, data_dir: Path, ports: dict[str, int], run: int) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self.out = data_dir.parent / f"dev-{run}.out"
        argv = [str(BIN_DIR / "payreq"), "dev", "--data-dir", str(data_dir)]
        for flag, port in ports.items():
            argv += [f"--{flag}", str(port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "PAYLOAD_"))}
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, cwd=data_dir.parent, env=env
            )
        self.started = time.monotonic()

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_ready(self) -> float:
        deadline = self.started + READY_TIMEOUT_SECONDS
        while "payreq dev is ready" not in self.output():
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)
        return time.monotonic() - self.started

    def api_key(self) -> str:
        match = re.search(r"API key\s+(prk_\S+)", self.output())
        assert match, self.output()
        return match.group(1)

    def processes(self) -> list[psutil.Process]:
        """Everything this stack runs: our descendants, plus Postgres (pg_ctl daemonises it)."""
        procs = psutil.Process(self.proc.pid).children(recursive=True)
        postmaster = (self.data_dir / "pg" / "postmaster.pid").read_text().split()[0]
        return [*procs, psutil.Process(int(postmaster))]

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(60)


def leftovers(procs: list[psutil.Process], data_dir: Path) -> list[str]:
    alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    mentioning = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            mentioning.append(f"{p.info['pid']} {cmdline}")
    return [f"{p.pid} {' '.join(p.cmdline())}" for p in alive] + mentioning


@pytest.fixture
def dev_ports() -> dict[str, int]:
    names = (
        "api-port",
        "temporal-port",
        "temporal-ui-port",
        "smtp-port",
        "stripe-port",
        "billing-port",
    )
    return {name: free_port() for name in names}


@pytest.fixture
def stacks() -> Iterator[list[DevStack]]:
    started: list[DevStack] = []
    yield started
    for stack in started:  # a failed test must not leak a stack
        if stack.proc.poll() is None:
            stack.interrupt()


async def test_payreq_dev_runs_the_whole_flow_stops_cleanly_and_resumes(
    tmp_path: Path, dev_ports: dict[str, int], stacks: list[DevStack]
) -> None:
    data_dir = tmp_path / "data"
    first = DevStack(data_dir, dev_ports, 1)
    stacks.append(first)
    cold = first.wait_ready()
    stack: dict[str, Any] = json.loads((data_dir / "stack.json").read_text())
    key = first.api_key()
    assert stack["api_key"] == key
    assert stack["api_url"] == f"http://127.0.0.1:{dev_ports['api-port']}"
    assert "curl -sS -X POST" in first.output()

    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=stack["api_url"], headers=auth, timeout=10) as api:
        assert (await api.get("/readyz")).status_code == 200
        # Texts wait for 08:00-21:00 in the practice's zone: pick one where it is that now.
        patched = await api.patch("/v1/practice", json={"timezone": zone_inside_window()})
        assert patched.status_code == 200, patched.text
        created = await api.post(
            "/v1/payment-requests", json=CREATE, headers={"Idempotency-Key": "dev-1"}
        )
        assert created.status_code == 201, created.text
        request = created.json()

        def mail_to_ana() -> list[Any]:
            box = mailbox.Maildir(stack["maildir"], create=False)
            raw = [box.get_bytes(k) for k in box.iterkeys()]
            return [BytesParser(policy=policy.default).parsebytes(r) for r in raw]

        [message] = await eventually(mail_to_ana, timeout=20)
        assert message["To"] == "ana@example.com"
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert request["pay_url"] in text
        assert "Dev mail (1)" in (await api.get("/dev/mail")).text

        def texts() -> list[dict[str, str]]:
            outbox = Path(stack["sms_outbox"])
            return [json.loads(f.read_text()) for f in sorted(outbox.glob("*.json"))]

        [sent] = await eventually(texts, timeout=20)
        assert sent["to"] == "+14155552671" and request["pay_url"] in sent["body"]
        assert len(stack["twilio_auth_token"]) == 32
        billing = await api.get(f"{stack['billing_url']}/")  # the staff panel's demo host
        assert f"{stack['api_url']}/embed/panel?session=pss_" in billing.text
        stand_in = await api.get(f"{stack['stripe_api_base']}{STAND_IN_PATH}")
        assert stand_in.status_code == 200 and "createConfirmationToken" in stand_in.text

        pay = stripe_client(stack["stripe_api_base"])
        intent = await pay.v1.payment_intents.create_async(
            {
                "amount": 5000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "allowed_payment_method_types": ["card"],
                "metadata": {
                    "payment_request_id": request["id"],
                    "practice_id": stack["practice_id"],
                },
            }
        )
        assert intent.status == "succeeded"

        async def balance_dropped() -> bool:
            body = (await api.get(f"/v1/payment-requests/{request['id']}")).json()
            return bool(body["amount_remaining"] == 18500 - 5000)

        await eventually(balance_dropped, timeout=20)

    running = first.processes()
    assert len(running) >= 5  # temporal, localstripe, worker, api, postgres
    assert first.interrupt() == 0
    assert leftovers(running, data_dir) == []
    assert "payreq dev: stopped" in first.output()

    second = DevStack(data_dir, dev_ports, 2)
    stacks.append(second)
    warm = second.wait_ready()
    assert second.api_key() == key  # the demo practice is seeded once
    async with httpx.AsyncClient(base_url=stack["api_url"], headers=auth, timeout=10) as api:
        again = (await api.get(f"/v1/payment-requests/{request['id']}")).json()
    assert again["status"] == "partially_paid"
    assert again["amount_remaining"] == 13500
    assert datetime.fromisoformat(again["next_reminder_at"]) > datetime.now(UTC)
    temporal = await Client.connect(stack["temporal_address"])
    described = await temporal.get_workflow_handle(workflow_id(request["id"])).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING
    next_action = described.typed_search_attributes.get(SA_NEXT_ACTION_AT)
    assert next_action is not None and next_action > datetime.now(UTC)
    # `payreq dev` applies the reconciliation schedule (`payreq schedules apply`); workers don't
    schedule = await temporal.get_schedule_handle("reconcile-stripe-payments").describe()
    assert schedule.schedule.spec.intervals
    running = second.processes()
    assert second.interrupt() == 0
    assert leftovers(running, data_dir) == []
    print(f"payreq dev ready: cold {cold:.1f}s, restart {warm:.1f}s")


def test_a_port_in_use_is_one_clear_line(tmp_path: Path, dev_ports: dict[str, int]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", dev_ports["api-port"]))
        busy.listen()
        argv = [str(BIN_DIR / "payreq"), "dev", "--data-dir", str(tmp_path / "d")]
        for flag, port in dev_ports.items():
            argv += [f"--{flag}", str(port)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"payreq dev: port {dev_ports['api-port']} (--api-port) is already in use: stop what "
        f"holds it or pick another with --api-port"
    ]
    assert not (tmp_path / "d").exists()
