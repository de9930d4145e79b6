"""Configuration from the environment (and `.env`), read only by the composition roots."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A missing or malformed setting; its message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str
    temporal_address: str
    temporal_namespace: str = "default"
    temporal_task_queue: str = "payment-requests"
    temporal_tls_cert: str | None = None
    temporal_tls_key: str | None = None
    temporal_api_key: SecretStr | None = None

    smtp_host: str
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # A PEM file of CA certificates to trust for the SMTP server (e.g. a private CA); the
    # system's trust store otherwise. SMTP_TLS_VERIFY=false turns verification off (never in
    # production: the password would go to whoever answers).
    smtp_ca_file: str | None = None
    smtp_tls_verify: bool = True
    mail_from: str

    stripe_secret_key: SecretStr | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None
    # The kind of connected account POST /v1/practice/stripe-onboarding creates for a practice
    # that has none: "standard" (the clinic's own full Stripe account) or "express".
    stripe_connect_account_type: Literal["standard", "express"] = "standard"
    # Where the pay page loads Stripe.js from; tests point it at a local double.
    stripe_js_url: str = "https://js.stripe.com/v3/"

    # Text messages through Twilio: the account, and a Messaging Service (preferred) or one
    # number to send from. TWILIO_API_BASE only points at a local stand-in (payreq dev, tests).
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_from_number: str | None = None
    twilio_api_base: str | None = None

    public_base_url: str
    payload_encryption_key: SecretStr | None = None  # keyring, see payreq/codec.py

    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The codec endpoint (POST /codec/encode|decode) for the Temporal UI and CLI: refused
    # (401) unless this token is set and sent; CORS only for these comma-separated origins.
    codec_auth_token: SecretStr | None = None
    codec_cors_origins: str = ""
    # The path form /codec/t/<token>/... (for a Temporal UI that cannot send a header; anyone
    # who can open that UI can read the token from its settings). Turn it off when the UI sits
    # behind your SSO proxy and CODEC_IDENTITY_HEADER is set.
    codec_path_token: bool = True
    # SSO mode: a codec call from one of TRUSTED_PROXIES carrying this header (e.g.
    # X-Forwarded-Email or X-Auth-Request-Email, set by oauth2-proxy or the ingress's auth)
    # is authorised when the identity matches CODEC_ALLOWED_IDENTITIES (comma-separated exact
    # addresses or @domain suffixes). Off when empty.
    codec_identity_header: str = ""
    codec_allowed_identities: str = ""
    # The worker's probe endpoint (/healthz, /readyz) for Kubernetes; off when no port is set.
    worker_health_host: str = "127.0.0.1"
    worker_health_port: int | None = Field(default=None, ge=1, le=65535)
    # Dev stack and tests only: let practice webhook URLs point at loopback (http allowed
    # there). Production leaves it off, so webhooks reach public addresses only.
    webhook_allow_loopback: bool = False
    # Practice webhook deliveries in flight at once per worker process, on their own task
    # queue (<TEMPORAL_TASK_QUEUE>-outbound), apart from emails and refunds.
    webhook_max_concurrent_deliveries: int = Field(default=20, ge=1, le=1000)
    # Emails sent per second across every worker, enforced by the Temporal server on the
    # email task queue (<TEMPORAL_TASK_QUEUE>-email); unset, no limit. Set it to the SMTP
    # relay's account limit, the same value on every worker.
    email_max_per_second: float | None = Field(default=None, gt=0)
    # The worker's Postgres pool (connections per worker process). Local activities (the
    # read-model saves) each hold one connection for their transaction, so the worker runs at
    # most this many at once; the other activities hold one only per statement.
    worker_db_pool_size: int = Field(default=20, ge=2, le=500)
    # asyncpg's prepared-statement cache per connection (asyncpg's default, 100). Behind
    # PgBouncer in transaction mode before 1.21 (or without max_prepared_statements) set 0: a
    # statement prepared on one server connection is unknown on the next.
    database_statement_cache_size: int = Field(default=100, ge=0, le=10_000)
    # How the worker runs workflow code: "full" is the SDK's sandbox (every run re-imports the
    # workflow modules), "passthrough" the sandbox with every module passed through (no re-import;
    # open() and input() still refused, module members such as datetime.now() no longer
    # checked), "off" no sandbox (the default: README, "Deploying at scale", says why). The test
    # suite, the replay tests and `payreq dev` run the full sandbox (payreq/temporal.py).
    workflow_sandbox: Literal["full", "passthrough", "off"] = "off"
    # The reverse proxies / load balancers in front of the API, comma-separated addresses or
    # CIDRs: X-Forwarded-For is honoured only on connections from them (api/client_address.py).
    trusted_proxies: str = ""

    @field_validator("public_base_url", "stripe_api_base", "twilio_api_base")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("payload_encryption_key")
    @classmethod
    def _keyring(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from payreq.codec import Keyring

            Keyring.parse(value.get_secret_value())  # KeyringError names the problem, no key
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        from api.client_address import parse_networks

        parse_networks(value)
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _readable_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError("must be the path of a readable PEM file")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL")
        return value


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(f"configuration error: {name}: {first['msg']}") from None
