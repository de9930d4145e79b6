-- Rate-limit counters shared by every API process (api/ratelimit.py): one row per key and
-- fixed window. Keys are hashes (never an address or a token in clear). UNLOGGED: after a
-- crash the counters start again from zero, which only forgives a few minutes of hits.
CREATE UNLOGGED TABLE rate_limit_counters (
    key           text NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limit_counters_window ON rate_limit_counters (window_start);
