-- Web console sessions (issue F). The browser holds a random session id in an HttpOnly cookie; only
-- its SHA-256 is stored here, so a database leak opens no session. A session acts as the API token
-- it was opened with: that token's revocation or expiry ends it (checked on every request).
CREATE TABLE console_sessions (
  id_hash TEXT PRIMARY KEY,
  -- The tokens row it acts as, or 'bootstrap' for EDGEBOOT_ADMIN_TOKEN (which has no row).
  token_id TEXT NOT NULL,
  -- SHA-256 of the token's secret: for 'bootstrap', proves the configured secret is still the one signed in with.
  token_hash TEXT NOT NULL,
  -- Secret every form of the session carries (synchronizer token), compared on every POST.
  csrf TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  -- Sliding: pushed forward on use (at most once a minute); the session ends when either passes.
  idle_expires_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_token ON console_sessions(token_id);
CREATE INDEX console_sessions_expires ON console_sessions(expires_at);

-- The console's overview lists the latest failed boots: a small partial index, in failure order.
CREATE INDEX boots_failed ON boots(updated_at) WHERE state = 'failed';
