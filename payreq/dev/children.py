"""The processes `payreq dev` starts: spawned with asyncio, watched while the stack starts,
stopped in reverse order. Each also gets SIGTERM from the kernel if `payreq dev` dies without
cleaning up (Linux PR_SET_PDEATHSIG), so a child never outlives it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.1
STOP_TIMEOUT_SECONDS = {"api": 25.0, "worker": 35.0}  # the worker drains activities for 30 s
DEFAULT_STOP_TIMEOUT_SECONDS = 10.0
# Sets PR_SET_PDEATHSIG (1) to SIGTERM, then becomes the real program.
_PDEATHSIG_EXEC = (
    "import ctypes,os,sys;ctypes.CDLL(None).prctl(1,15);os.execvp(sys.argv[1],sys.argv[1:])"
)


class DevError(Exception):
    """A one-line reason the stack cannot start (printed without a traceback)."""


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Children:
    """Processes we started, stopped in reverse order; each gets SIGTERM, then SIGKILL."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[tuple[str, asyncio.subprocess.Process]] = []

    async def spawn(self, name: str, argv: list[str], env: Mapping[str, str], quiet: bool) -> None:
        if sys.platform.startswith("linux"):
            argv = [sys.executable, "-I", "-S", "-c", _PDEATHSIG_EXEC, *argv]
        out: Any = None
        if quiet:  # noisy servers write to DIR/logs; the worker and the API to our console
            out = (self.logs / f"{name}.log").open("ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=dict(env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT if quiet else None,
                start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
            )
        finally:
            if out is not None:
                out.close()
        self.procs.append((name, proc))

    def exited(self) -> str | None:
        for name, proc in self.procs:
            if proc.returncode is not None:
                return f"{name} exited with status {proc.returncode}"
        return None

    async def wait_any(self) -> str:
        waits = [asyncio.create_task(p.wait(), name=n) for n, p in self.procs]
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return next(iter(done)).get_name()

    async def stop_all(self) -> None:
        while self.procs:
            name, proc = self.procs.pop()
            if proc.returncode is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            timeout = STOP_TIMEOUT_SECONDS.get(name, DEFAULT_STOP_TIMEOUT_SECONDS)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                say(f"payreq dev: {name} did not stop in {timeout:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


async def poll(what: str, check: Callable[[], Awaitable[bool]], children: Children) -> None:
    """Until CHECK answers true; a child that exits meanwhile, or the timeout, is a DevError."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        with contextlib.suppress(Exception):
            if await check():
                return
        crashed = children.exited()
        if crashed:
            raise DevError(f"{crashed} while waiting for {what} (see its log in the data dir)")
        if time.monotonic() > deadline:
            raise DevError(f"{what} not ready after {STARTUP_TIMEOUT_SECONDS:.0f}s")
        await asyncio.sleep(POLL_SECONDS)
