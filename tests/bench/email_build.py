"""The CPU of building one email for SMTP (the message object and its bytes), per message, by
the two paths of activities/email.py: the stdlib's legacy MIME classes (plain headers) and
EmailMessage (the baseline, whose header registry parses every header it is given).

    python -m tests.bench.email_build [N]

Reports ms per message for each and the ratio, measured in the same run.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from email.message import Message
from typing import Any

from activities.email import EmailActivities
from payreq.rendering.emails import default_template, render
from payreq.smtp import SmtpConfig

CONTEXT: dict[str, object] = {
    "practice_name": "Sunrise Therapy",
    "facility_name": "Downtown Clinic",
    "first_name": "María",
    "last_name": "Lopez",
    "amount_due": "$120.00",
    "amount_paid": "$0.00",
    "due_date": "January 5, 2027",
    "note": "",
    "pay_url": "https://pay.example/p/abcdefghijklmnopqrstuvwxyz",
}


def per_message_ms(build: Callable[[], Message], n: int) -> float:
    build().as_bytes()  # warm
    started = time.process_time()
    for _ in range(n):
        build().as_bytes()
    return (time.process_time() - started) / n * 1000


def run(n: int) -> dict[str, Any]:
    sender = EmailActivities.__new__(EmailActivities)  # only the message builders: no pool
    sender._smtp = SmtpConfig(host="127.0.0.1", port=25, mail_from="billing@payreq.test")
    rendered = render(default_template("request", "en"), CONTEXT)
    args = (rendered, "maria@example.com", "<id@payreq.test>", "Sunrise Therapy", "desk@x.test")
    legacy = per_message_ms(lambda: sender._message(*args), n)
    parsed = per_message_ms(lambda: sender._parsed_message(*args), n)
    return {
        "messages": n,
        "legacy_mime_ms": round(legacy, 3),
        "email_message_ms": round(parsed, 3),
        "ratio": round(parsed / legacy, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000), indent=1))
