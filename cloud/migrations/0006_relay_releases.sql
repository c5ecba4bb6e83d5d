-- Relay releases (the relay as an appliance): artifacts the packager signed (scripts/package-relay.ts),
-- stored in the object store under object_key. The signature covers version, arch, kind, bytes and
-- sha256 (shared/release/statement.ts); relays verify it with the key baked into them, the cloud only
-- keeps it. An executable is stored gzip-compressed (bytes and sha256 are the executable's own).
CREATE TABLE relay_releases (
  version TEXT NOT NULL,
  arch TEXT NOT NULL,
  kind TEXT NOT NULL,
  object_key TEXT NOT NULL,
  stored_bytes INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT,
  PRIMARY KEY (version, arch, kind)
);
-- The release relays should run: scope '*' for the fleet, or a site id (a pin that wins over the fleet's).
CREATE TABLE relay_desired_versions (
  scope TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  set_at INTEGER NOT NULL,
  set_by TEXT
);
-- What each relay last reported about its updates (POST /v1/relay/update-state).
ALTER TABLE relays ADD COLUMN update_state TEXT;
ALTER TABLE relays ADD COLUMN update_version TEXT;
ALTER TABLE relays ADD COLUMN update_reason TEXT;
ALTER TABLE relays ADD COLUMN update_at INTEGER;
