-- edgeboot control plane schema. Applied by wrangler to D1 and by cloud/src/adapters/node/sqlite.ts
-- to SQLite, which records it in wrangler's own d1_migrations table so both stay in step.
-- Times are integer milliseconds since the epoch (UTC). JSON columns hold validated documents.

CREATE TABLE sites (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  default_profile_id TEXT REFERENCES profiles(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE profiles (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE relays (
  id TEXT PRIMARY KEY,
  site_id TEXT NOT NULL REFERENCES sites(id),
  name TEXT NOT NULL,
  version TEXT,
  address TEXT,
  last_seen_at INTEGER,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX relays_site ON relays(site_id, id);

-- One-time enrollment codes: only the hash is kept; used_at makes them single-use.
CREATE TABLE enrollment_codes (
  code_hash TEXT PRIMARY KEY,
  site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  relay_id TEXT
);

CREATE TABLE machines (
  id TEXT PRIMARY KEY,
  mac TEXT NOT NULL UNIQUE,
  site_id TEXT REFERENCES sites(id),
  uuid TEXT,
  serial TEXT,
  hostname TEXT,
  arch TEXT,
  labels TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL DEFAULT 'discovered',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_seen_at INTEGER
);
CREATE INDEX machines_site ON machines(site_id, id);
CREATE INDEX machines_state ON machines(state, id);

CREATE TABLE images (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  content_type TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  size INTEGER,
  sha256 TEXT,
  object_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Multipart uploads. Parts go up in order so that the sha256 of the whole image can be computed
-- while streaming, across requests: each part row keeps the hash midstate after that part.
CREATE TABLE image_uploads (
  id TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  store_upload_id TEXT NOT NULL,
  -- The whole image's size, fixed up front: it sets the part count and the last part's size.
  size INTEGER NOT NULL,
  part_size INTEGER NOT NULL,
  expected_sha256 TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX image_uploads_image ON image_uploads(image_id);
CREATE TABLE image_upload_parts (
  upload_id TEXT NOT NULL REFERENCES image_uploads(id) ON DELETE CASCADE,
  part_number INTEGER NOT NULL,
  etag TEXT NOT NULL,
  size INTEGER NOT NULL,
  hash_state TEXT NOT NULL,
  PRIMARY KEY (upload_id, part_number)
);

CREATE TABLE assignments (
  id TEXT PRIMARY KEY,
  profile_id TEXT NOT NULL REFERENCES profiles(id),
  selector TEXT NOT NULL,
  -- Denormalised from the selector so that site-scoped reads and machine deletes are indexed.
  machine_id TEXT REFERENCES machines(id) ON DELETE CASCADE,
  site_id TEXT REFERENCES sites(id) ON DELETE CASCADE,
  once INTEGER NOT NULL DEFAULT 0,
  priority INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX assignments_site ON assignments(site_id, id);
CREATE INDEX assignments_machine ON assignments(machine_id);

CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  site_ids TEXT,
  relay_id TEXT REFERENCES relays(id) ON DELETE CASCADE,
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_by TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  last_used_at INTEGER
);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT,
  site_id TEXT,
  result TEXT NOT NULL,
  status INTEGER NOT NULL,
  request_id TEXT NOT NULL
);
CREATE INDEX audit_at ON audit_log(at);
-- Append-only, enforced by the database rather than by convention.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
