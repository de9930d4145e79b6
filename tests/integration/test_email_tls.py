"""SMTP security against a real aiosmtpd with a self-signed certificate: STARTTLS (required by
the server) with AUTH, implicit TLS, and the settings that choose what to trust."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.exceptions import ApplicationError

from activities.email import EmailActivities
from payreq.components import smtp_config
from payreq.settings import ConfigError, Settings, load_settings
from tests.integration.test_email_delivery import MARIA, email_input
from tests.support import Harness, RecordingHandler, free_port

USER, PASSWORD = "clinic-mailer", "s3cret-pass"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "payreq test SMTP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[RecordingHandler, int]]:
    """Refuses mail until STARTTLS, and AUTH before it; requires AUTH."""
    handler = RecordingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context(certificate),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
    )
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[RecordingHandler, int]]:
    """Implicit TLS from the first byte (port 465 style)."""
    handler = RecordingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=server_context(certificate),
        auth_required=True,
        # aiosmtpd only counts STARTTLS as TLS for AUTH; here every byte is already encrypted
        auth_require_tls=False,
        authenticator=authenticator,
    )
    controller.start()
    yield handler, controller.port
    controller.stop()


def settings(port: int, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        database_url="postgresql://unused/unused",
        temporal_address="127.0.0.1:0",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="starttls",
        smtp_username=USER,
        smtp_password=PASSWORD,
        smtp_timeout_seconds=5,
        mail_from="billing@payreq.test",
        public_base_url="http://127.0.0.1:8000",
    )
    values.update(overrides)
    return load_settings(**values)


async def send(h: Harness, cfg: Settings) -> str:
    """Sends one request email; returns the recorded status for the recipient."""
    acts = EmailActivities(h.pool, smtp_config(cfg))
    try:
        result = await acts.send_email(email_input(h))
    except ApplicationError:
        pass
    else:
        assert result.accepted == (MARIA,)
    row = await h.pool.fetchrow(
        "SELECT status, smtp_reply FROM email_deliveries WHERE recipient = $1", MARIA
    )
    assert row is not None
    return str(row["status"])


async def test_starttls_with_auth_delivers_when_the_ca_file_is_trusted(
    harness: Harness,
    starttls_server: tuple[RecordingHandler, int],
    certificate: tuple[Path, Path],
) -> None:
    handler, port = starttls_server
    handler.reset()
    assert await send(harness, settings(port, smtp_ca_file=str(certificate[0]))) == "accepted"
    [received] = handler.messages
    assert received.rcpt_tos == [MARIA]
    assert received.message["Subject"] == "Sunrise Therapy: payment request for $120.00"


async def test_starttls_refuses_an_untrusted_certificate_and_retries(
    harness: Harness, starttls_server: tuple[RecordingHandler, int]
) -> None:
    handler, port = starttls_server
    handler.reset()
    assert await send(harness, settings(port)) == "retrying"  # the system store lacks our CA
    assert handler.messages == []
    reply = await harness.pool.fetchval("SELECT smtp_reply FROM email_deliveries")
    assert "CERTIFICATE_VERIFY_FAILED" in reply or "certificate" in reply.lower(), reply


async def test_a_wrong_password_is_retried_and_never_marks_the_address_rejected(
    harness: Harness,
    starttls_server: tuple[RecordingHandler, int],
    certificate: tuple[Path, Path],
) -> None:
    handler, port = starttls_server
    handler.reset()
    cfg = settings(port, smtp_ca_file=str(certificate[0]), smtp_password="wrong")
    assert await send(harness, cfg) == "retrying"
    assert handler.messages == []
    assert (await harness.pool.fetchval("SELECT smtp_reply FROM email_deliveries")).startswith(
        "535"
    )


async def test_without_starttls_the_server_refuses_and_nothing_is_rejected(
    harness: Harness, starttls_server: tuple[RecordingHandler, int]
) -> None:
    handler, port = starttls_server
    handler.reset()
    assert await send(harness, settings(port, smtp_security="none")) == "retrying"
    assert handler.messages == []


async def test_verification_can_be_turned_off(
    harness: Harness, starttls_server: tuple[RecordingHandler, int]
) -> None:
    handler, port = starttls_server
    handler.reset()
    assert await send(harness, settings(port, smtp_tls_verify=False)) == "accepted"
    assert len(handler.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_implicit_tls_with_auth_delivers(
    harness: Harness, tls_server: tuple[RecordingHandler, int], certificate: tuple[Path, Path]
) -> None:
    handler, port = tls_server
    handler.reset()
    cfg = settings(port, smtp_security="tls", smtp_ca_file=str(certificate[0]))
    assert await send(harness, cfg) == "accepted"
    assert [r.rcpt_tos for r in handler.messages] == [[MARIA]]


def test_a_missing_ca_file_stops_the_process_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SMTP_CA_FILE"):
        settings(25, smtp_ca_file=str(tmp_path / "nope.pem"))
