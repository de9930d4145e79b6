"""The one writer of `request_events`, a request's timeline. Three kinds of row, each
de-duplicated by its key within the request:
- the workflow's events (`workflow:<seq>`), saved with each read-model write, in its order;
- the pay page's "viewed", at most once per UTC day (`viewed:<date>`);
- the service's own events on a closed request (a payment refunded after close, a refund or
  dispute change): once per type and detail (`service:<type>:<detail>`).
A timeline reads in (at, seq) order; rows that are not the workflow's have no seq and come
first within an instant."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from payreq.tables import Conn

_INSERT = """
INSERT INTO request_events (payment_request_id, key, seq, at, type, detail)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (payment_request_id, key) DO NOTHING
"""

_INSERT_NOW = """
INSERT INTO request_events (payment_request_id, key, at, type, detail)
VALUES ($1, $2, now(), $3, $4)
ON CONFLICT (payment_request_id, key) DO NOTHING
"""

TIMELINE_ORDER = "at, seq NULLS FIRST, id"
TIMELINE = f"""
SELECT at, type, detail FROM request_events WHERE payment_request_id = $1
ORDER BY {TIMELINE_ORDER}
"""


def workflow_key(seq: int) -> str:
    return f"workflow:{seq}"


def viewed_key(day: date) -> str:
    return f"viewed:{day.isoformat()}"


def service_key(kind: str, detail: str) -> str:
    return f"service:{kind}:{detail}"


def workflow_events_insert(*, request: str, first: int) -> str:
    """A data-modifying CTE body for the read model's save, which numbers its parameters: the
    workflow's events as the five arrays from `$first` (`workflow_event_arrays`)."""
    a = [f"${first + i}" for i in range(5)]
    return f"""
    INSERT INTO request_events (payment_request_id, key, seq, at, type, detail)
    SELECT {request}, e.key, e.seq, e.at, e.type, e.detail
    FROM unnest({a[0]}::text[], {a[1]}::int[], {a[2]}::timestamptz[], {a[3]}::text[],
                {a[4]}::text[]) AS e (key, seq, at, type, detail)
    ON CONFLICT (payment_request_id, key) DO NOTHING"""


def workflow_event_arrays(events: Iterable[tuple[int, datetime, str, str]]) -> list[list[object]]:
    """(seq, at, type, detail) of each event as the five arrays of `workflow_events_insert`."""
    rows = list(events)
    return [
        [workflow_key(s) for s, _, _, _ in rows],
        [s for s, _, _, _ in rows],
        [at for _, at, _, _ in rows],
        [str(t) for _, _, t, _ in rows],
        [d for _, _, _, d in rows],
    ]


async def record_workflow_events(
    conn: Conn, request_id: str, events: Iterable[tuple[int, datetime, str, str]]
) -> None:
    """(seq, at, type, detail) of each event, as the workflow numbered them; a retried save
    inserts nothing twice."""
    rows = [(request_id, workflow_key(s), s, at, t, d) for s, at, t, d in events]
    if rows:  # each statement is a round trip: skipped when there is nothing to write
        await conn.executemany(_INSERT, rows)


async def record_view(conn: Conn, request_id: str, now: datetime) -> None:
    """A "viewed" at most once per UTC day: every later reload that day is a no-op."""
    await conn.execute(_INSERT, request_id, viewed_key(now.date()), None, now, "viewed", "")


async def record_service_event(conn: Conn, request_id: str, kind: str, detail: str) -> None:
    """An event the service writes itself (the workflow has closed), once per kind and detail."""
    await conn.execute(_INSERT_NOW, request_id, service_key(kind, detail), kind, detail)
