-- Webhooks (issue 17): subscriptions, and an outbox of deliveries written by triggers in the same
-- transaction as the change they report, so no route has to remember to record an event and a
-- change that commits always has its deliveries (a crash before delivery loses nothing; the
-- delivery engine, cloud/src/webhooks/engine.ts, takes them from here at least once).
--
-- A webhook's `secret` is kept as issued (`whsec_` + base64 of 32 random bytes): the cloud must
-- compute HMACs with it, so it cannot be hashed like tokens are. It is never returned after
-- creation; whoever can read this database can read it, as with the boot signing keys.

CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  -- NULL: fleet-wide (every site, and machines of no site).
  site_id TEXT REFERENCES sites(id) ON DELETE CASCADE,
  url TEXT NOT NULL,
  -- JSON array of event types (shared/schemas/webhook.ts WEBHOOK_EVENT_TYPES).
  events TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT
);
CREATE INDEX webhooks_site ON webhooks(site_id, id);

-- One row per (event, webhook): the outbox and the delivery log at once.
CREATE TABLE webhook_deliveries (
  -- whd_ + the event's time (13 digits of ms) + 16 hex digits: sorting ids sorts the log by time.
  id TEXT PRIMARY KEY,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  -- The same for every webhook told of one event; receivers de-duplicate with it (webhook-id header).
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  site_id TEXT,
  -- The event's `data` object (JSON), as the trigger that recorded it saw the row.
  data TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  -- pending → delivering → succeeded | failed (gave up); delivering past lease_until is pending again.
  state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_until INTEGER,
  last_status INTEGER,
  last_error TEXT,
  finished_at INTEGER
);
CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries(webhook_id, event_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries(webhook_id, id);

-- Every attempt of a delivery: the log a console page shows.
CREATE TABLE webhook_attempts (
  delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  at INTEGER NOT NULL,
  -- HTTP status, NULL when no response came (refused address, timeout, connection error).
  status INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  -- The first bytes of the receiver's answer (bounded by the engine).
  response TEXT,
  PRIMARY KEY (delivery_id, attempt)
);

-- What subscribers were last told about each relay: heartbeats make it online (a trigger below),
-- the engine's sweep makes it offline after three missed beats.
CREATE TABLE webhook_relay_presence (
  relay_id TEXT PRIMARY KEY REFERENCES relays(id) ON DELETE CASCADE,
  online INTEGER NOT NULL,
  changed_at INTEGER NOT NULL
);
-- Relays already heard from start online: the first sweep tells of the ones that are not.
INSERT INTO webhook_relay_presence (relay_id, online, changed_at) SELECT id, 1, last_seen_at FROM relays WHERE last_seen_at IS NOT NULL;

-- A machine first seen by a relay (boot/sighting.ts inserts it with last_seen_at); machines
-- people register through the API are not "discovered" events.
CREATE TRIGGER webhook_machine_discovered AFTER INSERT ON machines
WHEN NEW.state = 'discovered' AND NEW.last_seen_at IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event_id, event_type, site_id, data, occurred_at, next_attempt_at)
  SELECT 'whd_' || printf('%013d', NEW.created_at) || lower(hex(randomblob(8))), w.id, NEW.id || ':discovered', 'machine.discovered', NEW.site_id,
         json_object('id', NEW.id, 'mac', NEW.mac, 'siteId', NEW.site_id, 'hostname', NEW.hostname, 'arch', NEW.arch, 'state', NEW.state),
         NEW.created_at, NEW.created_at
    FROM webhooks w
   WHERE (w.site_id IS NULL OR w.site_id = NEW.site_id)
     AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = 'machine.discovered');
END;

-- deployed (a succeeded callback) or failed (a failed callback, a boot loader that gave up), or a
-- person setting the state: every path that writes the column.
CREATE TRIGGER webhook_machine_state AFTER UPDATE OF state ON machines
WHEN NEW.state IN ('deployed', 'failed') AND NEW.state IS NOT OLD.state
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event_id, event_type, site_id, data, occurred_at, next_attempt_at)
  SELECT 'whd_' || printf('%013d', NEW.updated_at) || lower(hex(randomblob(8))), w.id, NEW.id || ':' || NEW.state || ':' || NEW.updated_at, 'machine.' || NEW.state, NEW.site_id,
         json_object('id', NEW.id, 'mac', NEW.mac, 'siteId', NEW.site_id, 'hostname', NEW.hostname, 'arch', NEW.arch, 'state', NEW.state,
                     'previousState', OLD.state,
                     'bootId', (SELECT b.id FROM boots b WHERE b.machine_id = NEW.id ORDER BY b.created_at DESC LIMIT 1)),
         NEW.updated_at, NEW.updated_at
    FROM webhooks w
   WHERE (w.site_id IS NULL OR w.site_id = NEW.site_id)
     AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = 'machine.' || NEW.state);
END;

CREATE TRIGGER webhook_power_job_result AFTER UPDATE OF state ON power_jobs
WHEN NEW.state IN ('succeeded', 'failed', 'expired') AND NEW.state IS NOT OLD.state
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event_id, event_type, site_id, data, occurred_at, next_attempt_at)
  SELECT 'whd_' || printf('%013d', coalesce(NEW.finished_at, NEW.created_at)) || lower(hex(randomblob(8))), w.id, NEW.id || ':' || NEW.state, 'power_job.' || NEW.state, NEW.site_id,
         json_object('id', NEW.id, 'machineId', NEW.machine_id, 'mac', (SELECT m.mac FROM machines m WHERE m.id = NEW.machine_id),
                     'siteId', NEW.site_id, 'action', NEW.action, 'state', NEW.state, 'relayId', NEW.relay_id,
                     'powerState', NEW.power_state, 'error', NEW.error, 'durationMs', NEW.duration_ms),
         coalesce(NEW.finished_at, NEW.created_at), coalesce(NEW.finished_at, NEW.created_at)
    FROM webhooks w
   WHERE (w.site_id IS NULL OR w.site_id = NEW.site_id)
     AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = 'power_job.' || NEW.state);
END;

-- A heartbeat from a relay subscribers last knew as offline (or never knew).
CREATE TRIGGER webhook_relay_heard AFTER UPDATE OF last_seen_at ON relays
WHEN NEW.last_seen_at IS NOT NULL AND NEW.revoked_at IS NULL
 AND NOT EXISTS (SELECT 1 FROM webhook_relay_presence p WHERE p.relay_id = NEW.id AND p.online = 1)
BEGIN
  INSERT OR REPLACE INTO webhook_relay_presence (relay_id, online, changed_at) VALUES (NEW.id, 1, NEW.last_seen_at);
END;

-- Both directions are told from the presence row: heard (above) or swept (engine.ts).
CREATE TRIGGER webhook_relay_online AFTER INSERT ON webhook_relay_presence
WHEN NEW.online = 1
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event_id, event_type, site_id, data, occurred_at, next_attempt_at)
  SELECT 'whd_' || printf('%013d', NEW.changed_at) || lower(hex(randomblob(8))), w.id, r.id || ':online:' || NEW.changed_at, 'relay.online', r.site_id,
         json_object('id', r.id, 'name', r.name, 'siteId', r.site_id, 'version', r.version, 'address', r.address, 'lastSeenAt', strftime('%Y-%m-%dT%H:%M:%fZ', r.last_seen_at / 1000.0, 'unixepoch')),
         NEW.changed_at, NEW.changed_at
    FROM relays r JOIN webhooks w ON (w.site_id IS NULL OR w.site_id = r.site_id)
   WHERE r.id = NEW.relay_id
     AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = 'relay.online');
END;

CREATE TRIGGER webhook_relay_offline AFTER UPDATE OF online ON webhook_relay_presence
WHEN OLD.online = 1 AND NEW.online = 0
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event_id, event_type, site_id, data, occurred_at, next_attempt_at)
  SELECT 'whd_' || printf('%013d', NEW.changed_at) || lower(hex(randomblob(8))), w.id, r.id || ':offline:' || NEW.changed_at, 'relay.offline', r.site_id,
         json_object('id', r.id, 'name', r.name, 'siteId', r.site_id, 'version', r.version, 'address', r.address, 'lastSeenAt', strftime('%Y-%m-%dT%H:%M:%fZ', r.last_seen_at / 1000.0, 'unixepoch')),
         NEW.changed_at, NEW.changed_at
    FROM relays r JOIN webhooks w ON (w.site_id IS NULL OR w.site_id = r.site_id)
   WHERE r.id = NEW.relay_id
     AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = 'relay.offline');
END;
