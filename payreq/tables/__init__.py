"""One module per table that more than one caller writes: its SQL and small typed functions
taking a connection. Below both the API and the activities: imports only asyncpg."""

from __future__ import annotations

import asyncpg

Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
