"""The pay page's own words in each language (the amounts and dates come formatted from
payreq.rendering.locale). Keys are the same in every language; a test holds them equal."""

from __future__ import annotations

from typing import Final

LANGUAGE_NAMES: Final[dict[str, str]] = {"en": "English", "es": "Español"}

PAGE_TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Payment",
        "pay_title": "Pay",
        "secure_footer": "Card details go straight to Stripe, our payment processor; this site "
        "never sees them.",
        "heading": "Payment request for",
        "remaining": "Amount remaining",
        "already_paid": "Already paid",
        "note_from": "Note from",
        "how_much": "How much would you like to pay?",
        "pay_full": "Pay the full balance",
        "pay_other": "Pay another amount",
        "amount": "Amount",
        "at_least": "At least",
        "at_most": "at most",
        "payment_details": "Payment details",
        "pay": "Pay",
        "paid_in_full": "Paid in full",
        "nothing_more": "Thank you. Nothing more is due on this request.",
        "language": "Language",
        "closed_paid_title": "This request is paid in full",
        "closed_paid": "Thank you, {name}. We received {paid}; nothing more is due.",
        "closed_cancelled_title": "This payment request was cancelled",
        "closed_cancelled": "{practice} cancelled this request, so there is nothing to pay "
        "here. If you have questions, please contact the practice.",
        "closed_expired_title": "This payment link has expired",
        "closed_expired": "This request can no longer be paid online. Please contact "
        "{practice} for a new link.",
        "status_paid": "payment request paid",
        "status_cancelled": "payment request cancelled",
        "status_expired": "payment request expired",
    },
    "es": {
        "title": "Pago",
        "pay_title": "Pagar a",
        "secure_footer": "Los datos de su tarjeta van directamente a Stripe, nuestro procesador "
        "de pagos; este sitio nunca los ve.",
        "heading": "Solicitud de pago para",
        "remaining": "Saldo pendiente",
        "already_paid": "Ya pagado",
        "note_from": "Nota de",
        "how_much": "¿Cuánto desea pagar?",
        "pay_full": "Pagar el saldo completo",
        "pay_other": "Pagar otro monto",
        "amount": "Monto",
        "at_least": "Mínimo",
        "at_most": "máximo",
        "payment_details": "Datos de pago",
        "pay": "Pagar",
        "paid_in_full": "Pagado en su totalidad",
        "nothing_more": "Gracias. No queda nada por pagar en esta solicitud.",
        "language": "Idioma",
        "closed_paid_title": "Esta solicitud ya está pagada en su totalidad",
        "closed_paid": "Gracias, {name}. Recibimos {paid}; no queda nada por pagar.",
        "closed_cancelled_title": "Esta solicitud de pago fue cancelada",
        "closed_cancelled": "{practice} canceló esta solicitud, así que no hay nada que pagar "
        "aquí. Si tiene preguntas, comuníquese con el consultorio.",
        "closed_expired_title": "Este enlace de pago ya venció",
        "closed_expired": "Esta solicitud ya no se puede pagar en línea. Comuníquese con "
        "{practice} para recibir un enlace nuevo.",
        "status_paid": "solicitud de pago pagada",
        "status_cancelled": "solicitud de pago cancelada",
        "status_expired": "solicitud de pago vencida",
    },
}
