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

-- API keys get an id (to list, revoke and rotate them: payreq practice key ..., /v1/api-keys),
-- and a staff session remembers the key that minted it: revoking the key ends its sessions.
ALTER TABLE api_keys ADD COLUMN id text;
UPDATE api_keys SET id = 'key_' || substr(md5(key_hash::text || random()::text), 1, 20);
ALTER TABLE api_keys ALTER COLUMN id SET NOT NULL;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_id_key UNIQUE (id);
ALTER TABLE staff_sessions ADD COLUMN api_key_hash bytea REFERENCES api_keys (key_hash);
