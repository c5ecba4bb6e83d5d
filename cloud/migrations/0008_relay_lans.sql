-- Two relays per site (issue 14): the LANs each relay last reported in its heartbeat, as JSON
-- (shared/schemas/access.ts RelayLan[]); NULL until a relay that knows the field reports. The
-- cloud compares the LANs of a site's relays at each read (shared/relay-conflicts.ts): nothing
-- derived is stored, so a revoked or reconfigured relay stops counting at once.
ALTER TABLE relays ADD COLUMN lans TEXT;
