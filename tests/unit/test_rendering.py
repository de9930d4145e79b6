"""Template rendering and validation: pure, no servers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from activities.email import email_context
from payreq.rendering.emails import (
    KIND_PLACEHOLDERS,
    KINDS,
    PLACEHOLDERS,
    SAMPLE_PAY_URL,
    Template,
    TemplateInvalid,
    default_template,
    render,
    sample_context,
    validate,
)
from payreq.rendering.locale import money
from workflows.types import EmailInput, EmailKind

GOOD = Template(
    subject="{{ practice_name }}: {{ amount_due }}",
    html='<p>Hello {{ first_name }}</p>\n<a href="{{ pay_url }}">Pay</a>',
    text="Hello {{ first_name }}\n{{ pay_url }}\n",
)


def invalid(kind: str, template: Template) -> TemplateInvalid:
    with pytest.raises(TemplateInvalid) as caught:
        validate(kind, template, "Sunrise Therapy")
    return caught.value


@pytest.mark.parametrize("kind", KINDS)
def test_every_default_template_passes_its_own_validation(kind: str) -> None:
    rendered = validate(kind, default_template(kind), "Sunrise Therapy")
    assert "Sunrise Therapy" in rendered.subject and "\n" not in rendered.subject


def test_the_email_context_offers_exactly_the_documented_placeholders() -> None:
    inp = EmailInput(
        request_id="pr_1",
        practice_id="prc_1",
        kind=EmailKind.REQUEST,
        sequence=1,
        recipients=("a@example.com",),
        first_name="Maria",
        last_name="Lopez",
        facility_name="Downtown Clinic",
        note="",
        currency="usd",
        amount_due=12000,
        amount_paid=0,
        pay_url="https://x/pay/t",
        expires_at=datetime(2027, 1, 26, 3, 0, tzinfo=UTC),
    )
    context = email_context(inp, "Sunrise Therapy", "America/Los_Angeles")
    assert set(context) == set(PLACEHOLDERS) == set().union(*KIND_PLACEHOLDERS.values())
    # 03:00 UTC on the 26th is still the 25th in Los Angeles; the day before is the last whole one
    assert context["due_date"] == "January 24, 2027"
    assert set(sample_context("request", "X")) == set(PLACEHOLDERS)


def test_money_formats_minor_units_without_floats() -> None:
    assert money(12000, "usd") == "$120.00"
    assert money(5, "usd") == "$0.05"
    assert money(1500, "jpy") == "¥1,500"


def test_html_is_autoescaped_and_text_is_not() -> None:
    ctx = sample_context("request", "A & B <Clinic>")
    out = render(GOOD, ctx)
    assert out.subject.startswith("A & B <Clinic>:")
    html = render(replace(GOOD, html="{{ practice_name }} {{ pay_url }}"), ctx).html
    assert "A &amp; B &lt;Clinic&gt;" in html


def test_subject_is_folded_onto_one_line() -> None:
    t = replace(GOOD, subject="{{ practice_name }}\n\n  owes\r\nyou")
    assert validate("request", t, "Sunrise").subject == "Sunrise owes you"


def test_unknown_placeholder_is_rejected_with_its_line_and_part() -> None:
    err = invalid("request", replace(GOOD, html="<p>\n{{ pay_url }}\n{{ patient_dob }}</p>"))
    assert (err.part, err.line) == ("html", 3)
    assert "unknown placeholder 'patient_dob'" in str(err) and "line 3" in str(err)


def test_placeholders_are_per_kind() -> None:
    receipt = replace(GOOD, subject="Receipt", html="<p>ok</p>")
    err = invalid("receipt", replace(receipt, text="Paid. {{ pay_url }}"))
    assert err.part == "text" and "pay_url" in err.reason
    validate("receipt", replace(receipt, text="{{ amount_paid }}"), "X")


def test_syntax_error_names_the_line() -> None:
    err = invalid("request", replace(GOOD, text="{{ pay_url }}\n\n{% if note %}no end"))
    assert err.part == "text" and err.line == 3 and "syntax error" in err.reason


def test_sandbox_violation_is_rejected_with_its_line() -> None:
    err = invalid("request", replace(GOOD, html="{{ pay_url }}\n{{ note.__class__.__mro__ }}"))
    assert (err.part, err.line) == ("html", 2) and "SecurityError" in err.reason


def test_undefined_attribute_is_rejected_at_save_not_at_send() -> None:
    err = invalid("request", replace(GOOD, subject="{{ first_name.nickname }}"))
    assert err.part == "subject" and "UndefinedError" in err.reason


def test_template_that_only_fails_without_a_note_is_rejected() -> None:
    err = invalid("request", replace(GOOD, text="{{ pay_url }} {{ note[0] }}"))
    assert err.part == "text" and err.line == 1


@pytest.mark.parametrize("part", ["html", "text"])
@pytest.mark.parametrize("kind", ["request", "reminder"])
def test_request_and_reminder_must_show_the_pay_link(kind: str, part: str) -> None:
    err = invalid(kind, replace(GOOD, **{part: "Please pay soon."}))
    assert err.part == part and "{{ pay_url }}" in err.reason


def test_a_pay_link_hidden_behind_a_false_condition_does_not_count() -> None:
    err = invalid("request", replace(GOOD, text="{% if false %}{{ pay_url }}{% endif %}"))
    assert err.part == "text"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{% for c in note %}{{ c }}{% endfor %}", "loops"),
        ("{% macro m() %}x{% endmacro %}", "macros"),
        ("{{ note.center(100000000) }}", "calling"),
        ("{{ note|center(100000000) }}", "No filter named 'center'"),
        ("{{ 'x' * 100000000 }}", "repeated value"),
        ("{{ 9 ** 9999999 }}", "** operator"),
        ("{% include 'other' %}", "includes"),
        ("{{ range }}", "unknown placeholder 'range'"),
    ],
)
def test_templates_cannot_make_rendering_slow_or_huge(source: str, reason: str) -> None:
    err = invalid("request", replace(GOOD, html="{{ pay_url }}\n" + source))
    assert err.part == "html" and err.line == 2 and reason in err.reason, err


def test_harmless_filters_and_short_repeats_are_fine() -> None:
    t = replace(
        GOOD, text="{{ '-' * 20 }}\n{{ first_name|upper }} {{ note|truncate(12) }}\n{{ pay_url }}"
    )
    assert validate("request", t, "X").text.startswith("-" * 20 + "\nMARIA For...")


def test_preview_shows_the_sample_link() -> None:
    assert SAMPLE_PAY_URL in validate("reminder", default_template("reminder"), "X").html
