"""Item 4: email templates cannot build huge strings: `%`, `~`, `+`, `*`, filters and chains
of `{% set %}` are bounded, refused at PUT and preview (422 naming the part and the line) in
well under a second and a few MiB, and the worker's render of a stored bomb stops as quickly."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from jinja2.exceptions import SecurityError as SandboxRefused

from payreq.rendering.emails import Template, render, sample_context

LINK = "<p>{{ pay_url }}</p>\n"
DOUBLING = '{% set a = "x" * 10000 %}\n' + "".join(
    f"{{% set a = a {op} a %}}\n" for op in ["~"] * 10
)
SET_A = '{% set a = "x" * 10000 %}'
PERCENTS = '{% set a = "%" * 10000 %}'
BOMBS = {
    "percent": ("subject", '{{ "%30000000s" % "" }}', 1),
    "concat_chain": ("html", DOUBLING + LINK, 4),  # 80,000 characters on line 4
    "plus_chain": ("html", DOUBLING.replace(" ~ ", " + ") + LINK, 4),
    "six_in_one": ("html", SET_A + "\n{% set b = a ~ a ~ a ~ a ~ a ~ a %}\n" + LINK, 2),
    "many_copies": ("text", SET_A + "{{ a ~ a ~ a ~ a }}" * 6 + "{{ pay_url }}", None),
    "filter_growth": ("html", PERCENTS + "{{ a|urlencode|urlencode|urlencode }}" + LINK, 1),
    "format_filter": ("subject", '{{ "%s"|format("x") }}', 1),
    "format_method": ("subject", '{{ "{:>30000000}".format("") }}', 1),
    "list_repr": ("text", '{% set a = ["x" * 10000] * 10000 %}{{ pay_url }}', 1),
}  # fmt: skip
BASE = {"subject": "Your bill", "html": LINK, "text": "Pay: {{ pay_url }}"}


async def measured(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[Any, float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        resp = await call()
        return resp, time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(BOMBS))
async def test_put_and_preview_refuse_the_bomb_quickly(api: httpx.AsyncClient, name: str) -> None:
    part, source, line = BOMBS[name]
    body = {**BASE, part: source}
    for path, method in [("", api.put), ("/preview", api.post)]:
        url = f"/v1/email-templates/request{path}"
        resp, seconds, peak = await measured(lambda: method(url, json=body))  # noqa: B023
        print(f"{name} {path or 'PUT'}: {resp.status_code} in {seconds:.3f}s, {peak >> 20} MiB")
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_template", part)
        # the line of the value that grew too big; the whole render has no single line
        assert f"line {line}" in error["message"] if line else "200000" in error["message"]
        assert seconds < 2.5 and peak < 16 << 20  # shared 2-core machine: generous


@pytest.mark.parametrize("name", ["concat_chain", "plus_chain", "many_copies", "filter_growth"])
def test_the_worker_never_builds_a_stored_bomb(name: str) -> None:
    """A template stored before these rules (or behind a branch validation never took)."""
    part, source, _ = BOMBS[name]
    template = Template(**{**BASE, part: source})
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SandboxRefused):
            render(template, sample_context("request", "Sunrise Therapy"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 2.5 and peak < 16 << 20
