"""The dev stack's API: the production app (api/app.py, built as `payreq api` builds it) with
/dev/mail mounted on it (payreq/dev/mail.py). Run by `payreq dev` as
`python -m payreq.dev.api --port N --maildir DIR`, with the settings in the environment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from payreq.cli import serve_api
from payreq.dev import mail
from payreq.dev.servers import LOOPBACK
from payreq.settings import ConfigError


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m payreq.dev.api")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True, help="the SMTP catcher's Maildir")
    args = parser.parse_args()
    try:
        serve_api(LOOPBACK, args.port, mount=lambda app: mail.mount(app, args.maildir))
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
