"""Email templates through the real API: read, replace, validate, preview, revert, and the
next email really using the edit (real worker, Temporal test server, aiosmtpd)."""

from __future__ import annotations

from typing import Any

import httpx

from payreq.rendering.emails import KINDS, PLACEHOLDERS, default_template
from tests.support import Harness, eventually, seed_practice
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import workflow_id

CUSTOM: dict[str, str] = {
    "subject": "{{ practice_name }} - balance {{ amount_due }}",
    "html": '<p>Dear {{ first_name }},</p>\n<p><a href="{{ pay_url }}">Settle up</a></p>',
    "text": "Dear {{ first_name }},\nSettle up here: {{ pay_url }}\n",
}


def error_of(resp: httpx.Response) -> dict[str, Any]:
    err: dict[str, Any] = resp.json()["error"]
    assert set(err) == {"code", "message", "field"}, err
    return err


async def test_get_returns_the_default_with_its_placeholders(api: httpx.AsyncClient) -> None:
    for kind in KINDS:
        resp = await api.get(f"/v1/email-templates/{kind}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["is_default"] is True and body["updated_at"] is None
        assert body["subject"] == default_template(kind).subject
        names = {p["name"] for p in body["placeholders"]}
        assert "practice_name" in names and names <= set(PLACEHOLDERS)
    receipt = (await api.get("/v1/email-templates/receipt")).json()
    assert "pay_url" not in {p["name"] for p in receipt["placeholders"]}


async def test_put_then_get_preview_and_revert(api: httpx.AsyncClient) -> None:
    put = await api.put("/v1/email-templates/request", json=CUSTOM)
    assert put.status_code == 200, put.text
    assert put.json()["is_default"] is False and put.json()["html"] == CUSTOM["html"]
    got = (await api.get("/v1/email-templates/request")).json()
    assert (got["subject"], got["text"], got["is_default"]) == (
        CUSTOM["subject"],
        CUSTOM["text"],
        False,
    )

    preview = await api.post("/v1/email-templates/request/preview")
    assert preview.status_code == 200, preview.text
    assert preview.json() == {
        "subject": "Sunrise Therapy - balance $120.00",
        "html": '<p>Dear Maria,</p>\n<p><a href="https://pay.example.com/pay/sample-token">'
        "Settle up</a></p>",
        "text": "Dear Maria,\nSettle up here: https://pay.example.com/pay/sample-token",
    }

    reverted = await api.delete("/v1/email-templates/request")
    assert reverted.status_code == 200 and reverted.json()["is_default"] is True
    assert (await api.get("/v1/email-templates/request")).json()["is_default"] is True
    again = await api.delete("/v1/email-templates/request")  # reverting twice is harmless
    assert again.status_code == 200


async def test_preview_of_a_draft_renders_without_saving(api: httpx.AsyncClient) -> None:
    draft = dict(CUSTOM, subject="Draft for {{ first_name }} <{{ amount_due }}>")
    resp = await api.post("/v1/email-templates/reminder/preview", json=draft)
    assert resp.status_code == 200 and resp.json()["subject"] == "Draft for Maria <$120.00>"
    assert (await api.get("/v1/email-templates/reminder")).json()["is_default"] is True
    bad = await api.post("/v1/email-templates/reminder/preview", json=dict(CUSTOM, text="x"))
    assert bad.status_code == 422 and error_of(bad)["field"] == "text"


async def test_invalid_templates_are_rejected_at_put_with_the_line(
    api: httpx.AsyncClient,
) -> None:
    cases = [
        (dict(CUSTOM, html=CUSTOM["html"] + "\n<p>{{ diagnosis }}</p>"), "html", "line 3"),
        (dict(CUSTOM, text="{{ pay_url }}\n{% if note %}\nunclosed"), "text", "syntax error"),
        (dict(CUSTOM, subject="{{ first_name.__class__ }}"), "subject", "SecurityError"),
        (dict(CUSTOM, text="Pay at the front desk."), "text", "{{ pay_url }}"),
        (dict(CUSTOM, html="<p>No link</p>"), "html", "{{ pay_url }}"),
    ]
    for body, field, reason in cases:
        resp = await api.put("/v1/email-templates/request", json=body)
        assert resp.status_code == 422, resp.text
        err = error_of(resp)
        assert (err["code"], err["field"]) == ("invalid_template", field), err
        assert reason in err["message"], err
    err = error_of(await api.put("/v1/email-templates/request", json=cases[0][0]))
    assert "unknown placeholder 'diagnosis'" in err["message"], err
    assert (await api.get("/v1/email-templates/request")).json()["is_default"] is True


async def test_malformed_bodies_and_unknown_kinds(api: httpx.AsyncClient) -> None:
    missing = await api.put("/v1/email-templates/request", json={"subject": "x", "html": "y"})
    assert missing.status_code == 422 and error_of(missing)["field"] == "text"
    extra = await api.put("/v1/email-templates/request", json=dict(CUSTOM, cc="x@y.z"))
    assert extra.status_code == 422
    assert (await api.get("/v1/email-templates/invoice")).status_code == 404
    assert (await api.put("/v1/email-templates/invoice", json=CUSTOM)).status_code == 404
    unauth = await api.get("/v1/email-templates/request", headers={"Authorization": "Bearer x"})
    assert unauth.status_code == 401


async def test_a_practice_never_sees_another_practices_template(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    assert (await api.put("/v1/email-templates/request", json=CUSTOM)).status_code == 200
    _, other_key = await seed_practice(harness.pool, name="Other Clinic")
    other = await api.get(
        "/v1/email-templates/request", headers={"Authorization": f"Bearer {other_key}"}
    )
    assert other.json()["is_default"] is True


async def test_openapi_documents_every_placeholder(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    put = spec["paths"]["/v1/email-templates/{kind}"]["put"]
    for name in PLACEHOLDERS:
        assert f"`{{{{ {name} }}}}`" in put["description"], name
    assert "422" in put["responses"]
    assert "delete" in spec["paths"]["/v1/email-templates/{kind}"]


async def test_a_template_edit_shows_up_in_the_next_email(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    h = harness
    assert (await api.put("/v1/email-templates/request", json=CUSTOM)).status_code == 200
    async with h.worker():
        inp = h.request_input(emails=("maria@example.com",))
        handle = await h.client.start_workflow(
            PaymentRequestWorkflow.run, inp, id=workflow_id(inp.request_id), task_queue=h.task_queue
        )
        [msg] = await eventually(lambda: h.smtp.to("maria@example.com"), timeout=20)
        state = await handle.query(PaymentRequestWorkflow.state)
        assert msg["Subject"] == "Sunrise Therapy - balance $120.00"
        text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text == f"Dear Maria,\nSettle up here: {state.pay_url}\n"
        html = msg.get_body(("html",)).get_content()
        assert f'<a href="{state.pay_url}">Settle up</a>' in html
        await handle.cancel()
