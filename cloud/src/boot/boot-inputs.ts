import type { Catalog } from '../../../shared/boot/decide.ts';
import type { SigningKey } from '../../../shared/crypto/signed-url.ts';
import { newId } from '../../../shared/ids.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import type { MachineRow } from '../routes/machine-lookup.ts';
import { catalogAssignmentsStatement, catalogOf, catalogProfilesStatement, type AssignmentRow, type ProfileRow } from './catalog.ts';
import { adoptPendingAssignments, sightingStatement, type Sighting } from './sighting.ts';
import { rememberedSigningKey, rememberSigningKey, signingKeysStatement } from './signing-keys.ts';

/**
 * The first of a boot's two database round trips: one batch, so one transaction, that records the
 * sighting and then reads everything the decision needs, seeing the sighting it just wrote:
 *
 *   1. the machine's architecture before the sighting (to tell whether this boot taught it);
 *   2. the sighting (boot/sighting.ts), which may create the machine under a fresh id;
 *   3. the machine as it is now, by MAC (its own site's or another's: the sighting left the latter alone);
 *   4. and 5. its candidate assignments and their profiles (boot/catalog.ts), the machine found by MAC;
 *   6. assignments pending for its MAC adopted, when the sighting created it (after 4 and 5, which
 *      read them as still pending, as a person-created machine's first boot would);
 *   7. the URL signing keys, unless this app instance remembers the active one (boot/signing-keys.ts).
 *
 * The boot record cannot join this batch: what it says (and whether there is one) is decideBoot's
 * answer, computed here from these rows, and a batch cannot branch on its own results. It is the
 * second round trip (boot/serve.ts).
 */
export interface BootInputs {
  /** The machine after its sighting. */
  machine: MachineRow;
  catalog: Catalog;
  /** The sighting created the machine (`discovered` at the asking site). */
  discovered: boolean;
  /** An existing machine of this site had no architecture and now has the one option 93 gave. */
  archLearnt: boolean;
  /** The active URL signing key, when remembered or read; null when no key exists yet. */
  signingKey: SigningKey | null;
}

export async function readBootInputs(db: SqlDatabase, s: Sighting, now: number): Promise<BootInputs> {
  const id = newId('machine', now);
  const remembered = rememberedSigningKey(db, now);
  const byMac = { mac: s.mac };
  const results = await db.batch([
    sql('SELECT arch FROM machines WHERE mac = ?', s.mac),
    sightingStatement(s, id, now),
    sql('SELECT * FROM machines WHERE mac = ?', s.mac),
    catalogAssignmentsStatement(byMac, s.siteId),
    catalogProfilesStatement(byMac, s.siteId),
    adoptPendingAssignments(s.mac, id),
    ...(remembered ? [] : [signingKeysStatement()]),
  ]);
  const rows = (i: number) => results[i]!.rows;
  const before = rows(0)[0] as Pick<MachineRow, 'arch'> | undefined;
  const machine = rows(2)[0] as unknown as MachineRow | undefined;
  if (!machine) throw new Error(`machine ${s.mac} neither inserted nor found`);
  return {
    machine,
    catalog: catalogOf(machine, rows(3) as unknown as AssignmentRow[], rows(4) as unknown as ProfileRow[]),
    discovered: machine.id === id,
    archLearnt: before !== undefined && before.arch === null && machine.arch !== null,
    signingKey: remembered ?? rememberSigningKey(db, now, rows(6)),
  };
}
