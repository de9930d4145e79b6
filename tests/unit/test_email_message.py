"""The two ways activities/email.py builds a message say the same thing: a reader parsing
either gets the same headers and bodies. Plain headers take the stdlib's legacy MIME classes;
SMTPUTF8 addresses, control characters and encoded-words take EmailMessage, which refuses
what cannot be a header."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, Message

import pytest

from activities.email import EmailActivities
from payreq.rendering.emails import Rendered, default_template, render
from payreq.smtp import SmtpConfig

CONTEXT: dict[str, object] = {
    "practice_name": "Søren's Clinic",
    "facility_name": "Downtown Clinic",
    "first_name": "María",
    "last_name": "Lopez",
    "amount_due": "120,00 €",
    "amount_paid": "0,00 €",
    "due_date": "5 de enero de 2027",
    "note": "Gracias — nos vemos pronto.",
    "pay_url": "https://pay.example/p/abcdefghijklmnopqrstuvwxyz",
}
NAMES = ["Sunrise Therapy", "Søren's Clinic = Care? (Ünïcode) 診療所", 'A "quoted" <name>', ""]
LONG_SUBJECT = Rendered(
    subject="Søren's Clinic: solicitud de pago por 120,00 € " + "muy larga " * 12,
    html="<p>¡Hola María!</p>\n" + "<p>" + "x" * 300 + "</p>",
    text="¡Hola María!\n" + "=" * 200 + "\n. a line that starts with a dot\n",
)


def sender() -> EmailActivities:
    built = EmailActivities.__new__(EmailActivities)  # only the message builders: no pool
    built._smtp = SmtpConfig(host="127.0.0.1", port=25, mail_from="billing@payreq.test")
    return built


def read(msg: Message) -> dict[str, str]:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    out = {h: str(parsed[h]) for h in ("From", "To", "Reply-To", "Subject", "Message-ID")}
    for subtype in ("plain", "html"):
        body = parsed.get_body((subtype,))
        assert body is not None
        out[subtype] = body.get_content()
    return out


@pytest.mark.parametrize("rendered", ["default", "long"])
@pytest.mark.parametrize("name", NAMES)
def test_both_builders_say_the_same(rendered: str, name: str) -> None:
    r = (
        render(default_template("request", "es"), CONTEXT)
        if rendered == "default"
        else LONG_SUBJECT
    )
    s = sender()
    args = (r, "maria@example.com", "<k@payreq.test>", name, "desk@clinic.test")
    fast, parsed = s._message(*args), s._parsed_message(*args)
    assert not isinstance(fast, EmailMessage)  # plain headers: the legacy classes
    assert read(fast) == read(parsed)
    assert read(fast)["Subject"] == r.subject
    assert all(len(line) <= 78 for line in fast.as_bytes().splitlines())  # noqa: PLR2004


def test_an_smtputf8_address_takes_email_message() -> None:
    r = render(default_template("request", "en"), CONTEXT)
    msg = sender()._message(r, "maría@example.com", "<k@payreq.test>", "Clinic", None)
    assert isinstance(msg, EmailMessage)
    assert msg["To"] == "maría@example.com"


@pytest.mark.parametrize(
    "name", ["=?utf-8?q?Evil=0D=0ABcc:_x@y.z?=", "Sunrise\r\nBcc: x@y.z", "Sunrise\u2028Bcc"]
)
def test_a_name_that_cannot_be_a_header_is_refused_not_written(name: str) -> None:
    """What the legacy classes would write as it is goes to EmailMessage, which refuses it
    (the activity then sends from the bare address: tests/security/test_practice_names.py)."""
    r = render(default_template("request", "en"), CONTEXT)
    s = sender()
    try:
        msg = s._message(r, "maria@example.com", "<k@payreq.test>", name, None)
    except ValueError:
        return
    assert isinstance(msg, EmailMessage)
    raw = msg.as_bytes()
    assert b"\nBcc:" not in raw and b"\rBcc:" not in raw, raw[:400]


def test_the_bare_address_when_the_name_is_refused() -> None:
    r = render(default_template("request", "en"), CONTEXT)
    msg = sender()._safe_message(
        r, "maria@example.com", "<k@payreq.test>", "=?utf-8?q?Evil=0D=0ABcc:_x@y.z?=", None
    )
    assert read(msg)["From"] == "billing@payreq.test"


def test_the_same_message_id_gives_the_same_boundary_and_a_body_cannot_fake_it() -> None:
    """The boundary comes from the Message-ID, so a body that quotes it (a practice's template
    can say anything) must still not end a part: quoted-printable writes its "=" as "=3D"."""
    first = sender()._message(LONG_SUBJECT, "maria@example.com", "<a@payreq.test>", "", None)
    boundary = first.get_boundary()
    assert boundary is not None and boundary.startswith("==")
    again = sender()._message(LONG_SUBJECT, "maria@example.com", "<a@payreq.test>", "", None)
    other = sender()._message(LONG_SUBJECT, "maria@example.com", "<b@payreq.test>", "", None)
    assert again.get_boundary() == boundary != other.get_boundary()

    forged = f"before\n--{boundary}\nContent-Type: text/html\n\n<b>injected</b>\n--{boundary}--\n"
    msg = sender()._message(
        Rendered(subject="s", html="<p>h</p>", text=forged),
        "maria@example.com",
        "<a@payreq.test>",
        "",
        None,
    )
    assert msg.get_boundary() == boundary
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == forged
    assert parts[1].get_content() == "<p>h</p>\n"
