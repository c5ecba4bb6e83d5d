-- The boot flow (issue B): per-boot records with callback tokens, one-shot consumption, boot
-- events for the timeline, URL signing keys, and each relay's key for signing direct-mode URLs.

-- HMAC key (base64url, 32 bytes) a relay signs short-lived script URLs with, for iPXE builds that
-- fetch their script from the cloud directly over HTTPS. Handed to the relay once, at enrollment.
ALTER TABLE relays ADD COLUMN boot_key TEXT;
-- The key's id, carried in the signed token (kid) so the cloud finds the relay and its key in one probe.
ALTER TABLE relays ADD COLUMN boot_key_id TEXT;
CREATE UNIQUE INDEX relays_boot_key_id ON relays(boot_key_id);

-- Keys for signed image URLs. The newest unretired key signs; every key still here verifies, so a
-- rotation never breaks a URL already handed out.
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER
);

-- One row per rendered boot that can call back (installers, imagers): the callback token is only
-- stored hashed, is valid for that machine and boot only, and expires.
CREATE TABLE boots (
  id TEXT PRIMARY KEY,
  machine_id TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
  site_id TEXT NOT NULL,
  relay_id TEXT,
  profile_id TEXT,
  assignment_id TEXT,
  once INTEGER NOT NULL DEFAULT 0,
  callback_hash TEXT UNIQUE,
  callback_expires_at INTEGER,
  state TEXT NOT NULL DEFAULT 'rendered',
  progress TEXT,
  log_tail TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX boots_machine ON boots(machine_id, created_at);

-- A one-shot assignment a machine has completed: it boots local until re-provisioned (row deleted).
CREATE TABLE assignment_consumptions (
  assignment_id TEXT NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
  machine_id TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
  boot_id TEXT,
  consumed_at INTEGER NOT NULL,
  PRIMARY KEY (assignment_id, machine_id)
);

-- The boot timeline. Relay events carry their own ids (namespaced by relay), so a replayed batch
-- inserts nothing (INSERT OR IGNORE); keyed by MAC because the relay sees machines before the cloud
-- has a row for them.
CREATE TABLE boot_events (
  id TEXT PRIMARY KEY,
  mac TEXT NOT NULL,
  site_id TEXT NOT NULL,
  relay_id TEXT,
  boot_id TEXT,
  source TEXT NOT NULL,
  stage TEXT NOT NULL,
  at INTEGER NOT NULL,
  duration_ms INTEGER,
  detail TEXT
);
CREATE INDEX boot_events_mac ON boot_events(mac, at);
