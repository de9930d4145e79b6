"""The workflow's text messages: one text per phone beside each email, sent from a task of its
own so the email never waits for the texting window. A text due outside 08:00-21:00 in the
practice's time zone waits on a durable timer until the window opens; a request or reminder
text still waiting when the request closes is dropped. Deterministic: clock readings and
timers are Temporal's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.sms import SmsActivities
    from workflows.book import RequestBook
    from workflows.sms import (
        TEXT_EVENTS,
        TextInput,
        TextOutcome,
        TextRenderInput,
        TextResult,
        next_text_window,
    )
    from workflows.types import EmailKind, EventType

TEXT_TIMEOUT = timedelta(seconds=30)
# Like an email: past this window of 5xx/429/outages, the phones are given up (not texted again).
TEXT_DELIVERY_WINDOW = timedelta(hours=24)
TEXT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
RENDER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
_ASKS_TO_PAY = (EmailKind.REQUEST, EmailKind.REMINDER)  # pointless once the request closed


class Texts:
    def __init__(
        self,
        book: RequestBook,
        lock: asyncio.Lock,
        save: Callable[[], Awaitable[None]],
        tasks: set[asyncio.Task[None]],
    ) -> None:
        self._b = book
        self._lock = lock
        self._save = save
        self._tasks = tasks  # the workflow completes only once these are done

    def start(self, kind: EmailKind, sequence: int, paid: int) -> None:
        """Texts every phone still textable; the amounts are those of this moment."""
        b = self._b
        phones = b.textable()
        if not phones:
            return
        render = TextRenderInput(
            practice_id=b.inp.practice_id,
            kind=kind,
            language=b.inp.language,
            currency=b.inp.currency,
            amount_due=b.ledger.amount_remaining,
            amount_paid=paid,
            pay_url=b.pay_url,
        )
        task = asyncio.create_task(self._send(kind, sequence, phones, render))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(
        self, kind: EmailKind, sequence: int, phones: tuple[str, ...], render: TextRenderInput
    ) -> None:
        if not await self._until_window(kind):
            return
        b = self._b
        phones = tuple(p for p in phones if p not in b.rejected_phones)
        if not phones:
            return
        result = await self._deliver(kind, sequence, phones, render)
        async with self._lock:
            now = workflow.now()
            given_up = set(phones) - {p.phone for p in result.phones}
            for r in result.phones:
                b.event(now, TEXT_EVENTS[r.outcome], f"{kind} to {r.phone}")
            for phone in sorted(given_up):
                b.event(now, EventType.TEXT_FAILED, f"{kind} to {phone}")
            b.rejected_phones |= given_up
            b.rejected_phones |= set(result.with_outcome(TextOutcome.REJECTED))
            b.rejected_phones |= set(result.with_outcome(TextOutcome.OPTED_OUT))
            if kind in _ASKS_TO_PAY:
                b.settle_delivery(now, bool(result.with_outcome(TextOutcome.QUEUED)))
            await self._save()

    async def _until_window(self, kind: EmailKind) -> bool:
        """Waits for the texting window; False when the text is no longer worth sending."""
        now = workflow.now()
        opens = next_text_window(now, self._b.inp.policy.timezone)
        if opens > now:
            if kind in _ASKS_TO_PAY:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self._b.closed, timeout=opens - now)
            else:
                await workflow.sleep(opens - now)
        return not (kind in _ASKS_TO_PAY and self._b.closed)

    async def _deliver(
        self, kind: EmailKind, sequence: int, phones: tuple[str, ...], render: TextRenderInput
    ) -> TextResult:
        """The phones Twilio never answered for within the window are missing from the result."""
        b = self._b
        try:
            body = await workflow.execute_activity_method(
                SmsActivities.render_text,
                render,
                start_to_close_timeout=TEXT_TIMEOUT,
                retry_policy=RENDER_RETRY,
            )
            return await workflow.execute_activity_method(
                SmsActivities.send_text,
                TextInput(
                    request_id=b.inp.request_id,
                    practice_id=b.inp.practice_id,
                    kind=kind,
                    sequence=sequence,
                    phones=phones,
                    body=body,
                ),
                start_to_close_timeout=TEXT_TIMEOUT,
                schedule_to_close_timeout=TEXT_DELIVERY_WINDOW,
                retry_policy=TEXT_RETRY,
            )
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                raise
            return TextResult(phones=())
