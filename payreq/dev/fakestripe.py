"""localstripe on loopback, for the dev stack and the tests only (never imported in production).

localstripe's own `start()` binds every interface and pickles its state to a fixed file in
/tmp; this runs its aiohttp app on 127.0.0.1 with the state in a file of our choosing (or
nowhere), so two stacks or test sessions never share it. payreq/dev/fakestripe_element.py adds
what the Payment Element needs (ConfirmationTokens, Stripe.js's publishable-key calls), and
payreq/dev/fakestripe_shim.py sits in front of both, so the service can send what real Stripe
accepts (and nothing else).
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

from aiohttp import web
from localstripe import resources, server

from payreq.dev import fakestripe_element, fakestripe_shim


def configure_store(state_file: Path | None) -> None:
    store = resources.store

    def load() -> None:
        if state_file and state_file.exists():
            store.clear()
            dict.update(store, pickle.loads(state_file.read_bytes()))

    def dump() -> None:
        if state_file:
            tmp = state_file.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(dict(store), protocol=pickle.HIGHEST_PROTOCOL))
            tmp.replace(state_file)

    store.try_load_from_disk = load
    store.dump_to_disk = dump
    load()


def main() -> None:
    parser = argparse.ArgumentParser(description="localstripe on 127.0.0.1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-file", type=Path, default=None)
    args = parser.parse_args()
    configure_store(args.state_file)
    # The element's middlewares go after localstripe's error middleware; the shim outermost.
    fakestripe_element.install(server.app)
    fakestripe_shim.install(server.app)
    web.run_app(server.app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
