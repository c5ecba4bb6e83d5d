-- Hands-off reprovisioning (issue 15): machines' BMCs, credentials sealed to relays, power jobs.
-- The cloud never holds a BMC password in clear: the CLI or the console seals it to each relay of the
-- machine's site (shared/crypto/seal.ts, X25519 + HKDF + AES-GCM, machine and relay ids as associated
-- data) and only that ciphertext is stored, one row per (machine, relay).

-- A relay's X25519 public key (base64url, 32 bytes), sent at enrollment or, for relays enrolled
-- before this, by PUT /v1/relay/seal-key at start. Its private half never leaves the relay.
ALTER TABLE relays ADD COLUMN seal_public_key TEXT;

CREATE TABLE machine_bmcs (
  machine_id TEXT PRIMARY KEY REFERENCES machines(id) ON DELETE CASCADE,
  protocol TEXT NOT NULL,
  address TEXT NOT NULL,
  username TEXT NOT NULL,
  system_id TEXT,
  tls_fingerprint TEXT,
  updated_at INTEGER NOT NULL,
  updated_by TEXT
);

CREATE TABLE bmc_credentials (
  machine_id TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
  relay_id TEXT NOT NULL REFERENCES relays(id) ON DELETE CASCADE,
  sealed TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (machine_id, relay_id)
);

-- Power jobs: made by people (POST /v1/machines/{id}/power), taken by a relay of the machine's site
-- (GET /v1/relay/power-jobs, a long-poll), reported back (POST /v1/relay/power-jobs/{id}/result).
-- state: queued → running → succeeded | failed; queued past deadline_at → expired.
CREATE TABLE power_jobs (
  id TEXT PRIMARY KEY,
  machine_id TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
  site_id TEXT NOT NULL,
  action TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'queued',
  created_at INTEGER NOT NULL,
  created_by TEXT,
  deadline_at INTEGER NOT NULL,
  relay_id TEXT,
  claimed_at INTEGER,
  finished_at INTEGER,
  power_state TEXT,
  error TEXT,
  duration_ms INTEGER,
  detail TEXT
);
CREATE INDEX power_jobs_site_state ON power_jobs(site_id, state, created_at);
CREATE INDEX power_jobs_machine ON power_jobs(machine_id, created_at);
