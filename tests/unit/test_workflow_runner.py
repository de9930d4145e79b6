"""WORKFLOW_SANDBOX: which runner the worker process takes, and that tests keep the full one."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from payreq.dev.stack import Ports
from payreq.dev.stack import Stack as DevStack
from payreq.settings import Settings
from payreq.temporal import workflow_runner
from tests.reliability.stack import Stack as ReliabilityStack
from worker import build_worker


def test_full_is_the_sdk_default_sandbox() -> None:
    runner = workflow_runner("full")
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert runner.restrictions == SandboxRestrictions.default


def test_passthrough_keeps_the_restrictions_and_passes_every_module_through() -> None:
    runner = workflow_runner("passthrough")
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert runner.restrictions.passthrough_all_modules
    default = SandboxRestrictions.default
    assert runner.restrictions.invalid_module_members == default.invalid_module_members
    assert runner.restrictions.invalid_modules == default.invalid_modules


def test_off_is_unsandboxed_and_unknown_modes_are_refused() -> None:
    assert isinstance(workflow_runner("off"), UnsandboxedWorkflowRunner)
    with pytest.raises(ValueError, match="bogus"):
        workflow_runner("bogus")


REQUIRED = {
    "database_url": "postgresql://localhost/payreq",
    "temporal_address": "localhost:7233",
    "smtp_host": "localhost",
    "mail_from": "billing@example.com",
    "public_base_url": "https://pay.example.com",
}


def test_setting_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.model_fields["workflow_sandbox"].default == "off"
    monkeypatch.setenv("WORKFLOW_SANDBOX", "off")
    assert Settings(_env_file=None, **REQUIRED).workflow_sandbox == "off"  # type: ignore[call-arg,arg-type]
    monkeypatch.setenv("WORKFLOW_SANDBOX", "none")
    with pytest.raises(ValidationError, match="workflow_sandbox"):
        Settings(_env_file=None, **REQUIRED)  # type: ignore[call-arg,arg-type]


def test_build_worker_defaults_to_the_full_sandbox() -> None:
    """tests/support.py builds its workers without `runner`: they run the SDK's sandbox, so
    the suite still catches non-determinism whatever production runs."""
    assert inspect.signature(build_worker).parameters["runner"].default is None


def test_the_tests_and_payreq_dev_run_the_full_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production's default is "off"; the reliability stack's worker process and `payreq dev`
    still run the full sandbox, whatever the environment says, unless told otherwise."""
    monkeypatch.setenv("WORKFLOW_SANDBOX", "off")
    rel = ReliabilityStack(workdir=tmp_path, database_url="postgresql://x/y", stripe_base="")
    assert rel.worker_env()["WORKFLOW_SANDBOX"] == "full"
    monkeypatch.delenv("WORKFLOW_SANDBOX")
    dev = DevStack(
        api_url="http://127.0.0.1:1",
        api_key="k",
        practice_id="p",
        temporal_address="127.0.0.1:2",
        temporal_ui_url="http://127.0.0.1:3",
        database_url="postgresql://x/y",
        maildir=str(tmp_path),
        stripe_api_base="http://127.0.0.1:4",
        stripe_publishable_key=None,
        stripe_webhook_secret=None,
    )
    secrets_ = {"payload_encryption_key": "k", "codec_auth_token": "t"}
    ports = Ports(api=1, temporal=2, temporal_ui=3, smtp=5, stripe=4, billing=6)
    assert dev.env(secrets_, ports, fake_stripe=False)["WORKFLOW_SANDBOX"] == "full"
