"""Rendering of the patient's pay page: Jinja2 templates (autoescaped) in the request's language
(or the one the patient picked with `?lang=`), and the security headers every /pay response
carries."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from babel.numbers import get_currency_precision
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.pay_page_text import LANGUAGE_NAMES, PAGE_TEXT
from api.pay_tokens import PayLink
from payreq.rendering.locale import DEFAULT_LANGUAGE, LANGUAGES, language, money
from payreq.settings import Settings
from payreq.stripe.payments import PAYMENT_ELEMENT_TYPES

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
# Stripe.js's directives in docs.stripe.com/security/guide ("Content Security Policy", Stripe.js
# tab): script-src and frame-src js.stripe.com and *.js.stripe.com, frame-src hooks.stripe.com
# (3-D Secure), connect-src api.stripe.com. The guide's maps.googleapis.com (script-src,
# connect-src) serves the Address Element's autocomplete, which this page does not use. Link and
# the issuer's challenge run inside Stripe's frames, which this policy does not govern.
STRIPE_SCRIPTS = ("https://js.stripe.com", "https://*.js.stripe.com")
STRIPE_FRAMES = (*STRIPE_SCRIPTS, "https://hooks.stripe.com")
STRIPE_CONNECT = ("https://api.stripe.com",)
# The Payment Element offers what the PaymentIntent allows: one list for both,
# payreq.stripe.payments.PAYMENT_ELEMENT_TYPES.

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def to_major_units(amount: int, currency: str) -> str:
    """The plain number the amount field is prefilled with, e.g. "120.00"."""
    precision = get_currency_precision(currency.upper())
    return f"{Decimal(amount).scaleb(-precision):.{precision}f}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(settings: Settings) -> dict[str, str]:
    js = _origin(settings.stripe_js_url)
    scripts = " ".join(dict.fromkeys((js, *STRIPE_SCRIPTS)))
    frames = " ".join(dict.fromkeys((*STRIPE_FRAMES, js)))
    connect = " ".join(dict.fromkeys(("'self'", *STRIPE_CONNECT, js)))
    csp = (
        "default-src 'none'; "
        f"script-src 'self' {scripts}; "
        "style-src 'self'; "
        "img-src 'self' data:; "
        "font-src 'self'; "
        f"connect-src {connect}; "
        f"frame-src {frames}; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def page_language(link: PayLink, chosen: str | None) -> str:
    """The language the patient picked on the page (`?lang=`), else the request's."""
    return chosen if chosen in LANGUAGES else language(link.language)


def render(
    template: str,
    settings: Settings,
    status_code: int = 200,
    lang: str = DEFAULT_LANGUAGE,
    **context: object,
) -> HTMLResponse:
    html = _env.get_template(template).render(
        stripe_js_url=settings.stripe_js_url,
        lang=lang,
        t=PAGE_TEXT[lang],
        languages=LANGUAGE_NAMES,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=security_headers(settings))


def render_pay(
    link: PayLink, token: str, settings: Settings, chosen: str | None = None
) -> HTMLResponse:
    closed = link.closed_as
    lang = page_language(link, chosen)
    context: dict[str, object] = {
        "link": link,
        "remaining": money(link.amount_remaining, link.currency, lang),
        "paid": money(link.amount_paid, link.currency, lang),
    }
    if closed is not None:
        return render("pay_closed.html", settings, 200, lang, closed=str(closed), **context)
    return render(
        "pay.html",
        settings,
        200,
        lang,
        token=token,
        publishable_key=settings.stripe_publishable_key or "",
        minimum=money(link.min_amount, link.currency, lang),
        remaining_major=to_major_units(link.amount_remaining, link.currency),
        precision=get_currency_precision(link.currency.upper()),
        payment_method_types=" ".join(PAYMENT_ELEMENT_TYPES),
        **context,
    )


def render_not_found(settings: Settings) -> HTMLResponse:
    return render("pay_not_found.html", settings, status_code=404)


def render_rate_limited(settings: Settings, retry_after: str) -> HTMLResponse:
    response = render("pay_rate_limited.html", settings, status_code=429)
    response.headers["Retry-After"] = retry_after
    return response
