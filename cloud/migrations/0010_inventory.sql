-- Hardware inventory (issue 17): the last report of the imager, per machine. Columns on machines
-- rather than a table beside it, so that every reader of a machine row (`SELECT *`: the API, the
-- boot decision's catalog, the relays' snapshots) has it without a join.
--
-- `inventory` is the report as validated (shared/schemas/machine.ts InventoryReport, MACs
-- canonical); `memory_bytes` and `cpu_count` copy the two facts lists filter on, so a filter is a
-- column comparison, not a json_extract per row; `hw_labels` are the `hw.*` labels derived from the
-- report (shared/boot/hardware-labels.ts), kept apart from people's `labels` so that a report never
-- overwrites a label someone set and a PATCH of labels never drops the derived ones.
--
-- Writing these columns leaves `updated_at` alone (it dates people's changes) and fires no webhook
-- (0009's triggers watch inserts and `state`).

ALTER TABLE machines ADD COLUMN inventory TEXT;
ALTER TABLE machines ADD COLUMN inventory_at INTEGER;
ALTER TABLE machines ADD COLUMN memory_bytes INTEGER;
ALTER TABLE machines ADD COLUMN cpu_count INTEGER;
ALTER TABLE machines ADD COLUMN hw_labels TEXT NOT NULL DEFAULT '{}';
