"""WORKFLOW_SANDBOX: which runner the worker process takes, and that tests keep the full one."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from payreq.settings import Settings
from payreq.temporal import workflow_runner
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
    assert Settings.model_fields["workflow_sandbox"].default == "full"
    monkeypatch.setenv("WORKFLOW_SANDBOX", "off")
    assert Settings(_env_file=None, **REQUIRED).workflow_sandbox == "off"  # type: ignore[call-arg,arg-type]
    monkeypatch.setenv("WORKFLOW_SANDBOX", "none")
    with pytest.raises(ValidationError, match="workflow_sandbox"):
        Settings(_env_file=None, **REQUIRED)  # type: ignore[call-arg,arg-type]


def test_build_worker_defaults_to_the_full_sandbox() -> None:
    """tests/support.py builds its workers without `runner`: they run the SDK's sandbox, so
    the suite still catches non-determinism whatever production runs."""
    assert inspect.signature(build_worker).parameters["runner"].default is None
