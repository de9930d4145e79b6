"""Item 8: practice names that would break every email. PATCH refuses them (422 naming
`name`); a name stored before that rule no longer leaves requests stuck retrying: the email
goes out from the bare sender address."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.apihelp import error_of
from tests.integration.pay_helpers import start_request
from tests.support import Harness, eventually

BAD_NAMES = [
    "=?utf-8?q?Evil=0D=0ABcc:_x@y.z?=",  # decodes to a line break: building the header fails
    "=?utf-8?q?Sunrise_Therapy?=",
    "Sunrise =?UTF-8?B?VGhlcmFweQ==?=",
    "Sunrise\u2028Therapy",
    "Sunrise\u2029Therapy",
    "Sunrise\x85Therapy",
    "Sunrise\tTherapy",
    "Sunrise\r\nBcc: x@y.z",
    "Sunrise\u202eypareht",
    "\u2028",
]


async def test_patch_refuses_names_that_cannot_be_a_header(api: httpx.AsyncClient) -> None:
    answers = {n: error_of(await api.patch("/v1/practice", json={"name": n})) for n in BAD_NAMES}
    assert answers == {n: (422, "invalid_value", "name") for n in BAD_NAMES}
    ok = await api.patch("/v1/practice", json={"name": "Søren's Clinic = Care? (Ünïcode) 診療所"})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("name", BAD_NAMES[:1])
async def test_a_stored_bad_name_does_not_leave_the_email_retrying(
    harness: Harness, name: str
) -> None:
    await harness.pool.execute("UPDATE practices SET name = $1", name)
    async with harness.worker():
        await start_request(harness)
        [message] = await eventually(lambda: harness.smtp.to("maria@example.com"), timeout=8)
    assert message["From"] == harness.smtp_config.mail_from
    attempts = await harness.pool.fetchval("SELECT max(attempts) FROM email_deliveries")
    print(f"{name!r}: delivered from {message['From']} after {attempts} attempt(s)")
