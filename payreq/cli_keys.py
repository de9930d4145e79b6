"""`payreq practice key create|list|revoke PRACTICE_ID [KEY_ID]`: API key rotation from the
command line (the API has the same under /v1/api-keys). To rotate without downtime: create a
key, deploy it to the practice software, then revoke the old one (its staff sessions end)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import asyncpg

from payreq.practices import LastKeyError, create_api_key, list_api_keys, revoke_api_key
from payreq.settings import ConfigError


def add_parser(practice_sub: Any) -> None:
    key = practice_sub.add_parser("key", help="create, list or revoke a practice's API keys")
    ksub = key.add_subparsers(dest="key_command", required=True)
    for name, text in (("create", "print a new key once"), ("list", "list keys")):
        ksub.add_parser(name, help=text).add_argument("practice_id")
    revoke = ksub.add_parser("revoke", help="revoke a key and end its staff sessions")
    revoke.add_argument("practice_id")
    revoke.add_argument("key_id")


async def run(args: argparse.Namespace, database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM practices WHERE id = $1", args.practice_id):
            raise ConfigError(f"no practice {args.practice_id}")
        if args.key_command == "create":
            info, key = await create_api_key(conn, args.practice_id)
            sys.stdout.write(f"key_id: {info.id}\napi_key: {key}\n")
            sys.stdout.write("Keep the API key now: only its hash is stored.\n")
        elif args.key_command == "list":
            for k in await list_api_keys(conn, args.practice_id):
                state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "valid"
                sys.stdout.write(f"{k.id}  {k.prefix}…  {k.created_at:%Y-%m-%d}  {state}\n")
        else:
            try:
                info_or_none = await revoke_api_key(conn, args.practice_id, args.key_id)
            except LastKeyError:
                raise ConfigError("create another key before revoking the last one") from None
            if info_or_none is None:
                raise ConfigError(f"no key {args.key_id} for practice {args.practice_id}")
            sys.stdout.write(f"revoked {args.key_id}; its staff sessions have ended\n")
    finally:
        await conn.close()
