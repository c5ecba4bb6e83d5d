/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { Bmc, PowerJob } from '../../../shared/schemas/bmc.ts';
import { Badge, Csrf, Time } from './layout.tsx';
import type { ConsoleSession } from './session.ts';

/** What the machine page shows of its BMC and power jobs (issue 15); the password is never here, not even sealed. */
export interface PowerView {
  bmc: Bmc | null;
  jobs: PowerJob[];
}

const ACTIONS = [
  ['status', 'Read power state', ''],
  ['on', 'Power on', ''],
  ['shutdown', 'Shut down (OS)', 'Ask the operating system to shut down?'],
  ['off', 'Power off', 'Cut the power now (no clean shutdown)?'],
  ['cycle', 'Power cycle', 'Power-cycle this machine now?'],
  ['reprovision', 'Reprovision now', 'Netboot its assignment now: next boot from the network, then power-cycle?'],
] as const;

export const POWER_ACTIONS: readonly string[] = ACTIONS.map(([a]) => a);

export const PowerSection: FC<{ session: ConsoleSession; machineId: string; writable: boolean; view: PowerView; now: number }> = ({ session, machineId, writable, view, now }) => (
  <section aria-labelledby="h-power">
    <h2 id="h-power">BMC and power</h2>
    {view.bmc === null ? (
      <p class="muted">
        No BMC. Set one with <code>edgeboot machines bmc set {machineId} --ipmi ADDRESS --user USER --password-stdin</code>: the CLI seals the password to
        the site's relays before it leaves your computer.
      </p>
    ) : (
      <>
        <dl class="facts">
          <dt>Protocol</dt>
          <dd>{view.bmc.protocol}</dd>
          <dt>Address</dt>
          <dd class="mono">{view.bmc.address}</dd>
          <dt>User</dt>
          <dd class="mono">{view.bmc.username}</dd>
          {view.bmc.tlsFingerprint && (
            <>
              <dt>Pinned certificate</dt>
              <dd class="mono">{view.bmc.tlsFingerprint}</dd>
            </>
          )}
          <dt>Password sealed for</dt>
          <dd class="mono">{view.bmc.sealedFor.join(', ') || '—'}</dd>
          {view.bmc.missingFor.length > 0 && (
            <>
              <dt>No password for</dt>
              <dd class="mono">{view.bmc.missingFor.join(', ')} (set the BMC again from the CLI)</dd>
            </>
          )}
        </dl>
        {writable && (
          <form method="post" action={`/console/machines/${machineId}/power`}>
            <Csrf session={session} />
            <p>
              {ACTIONS.map(([action, label, confirm]) => (
                <>
                  <button type="submit" name="action" value={action} class="secondary" {...(confirm ? { 'data-confirm': confirm } : {})}>
                    {label}
                  </button>{' '}
                </>
              ))}
            </p>
          </form>
        )}
      </>
    )}
    {view.jobs.length > 0 && (
      <table>
        <thead>
          <tr>
            <th>Job</th>
            <th>State</th>
            <th>Power</th>
            <th>Took</th>
            <th>Asked</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {view.jobs.map((j) => (
            <tr>
              <td>{j.action}</td>
              <td>
                <Badge value={j.state} />
              </td>
              <td>{j.powerState ?? '—'}</td>
              <td>{j.durationMs === null ? '—' : `${j.durationMs} ms`}</td>
              <td>
                <Time at={j.createdAt} now={now} />
              </td>
              <td>{j.error ?? (j.detail?.pxeOverride === 'refused' ? 'the BMC refused the network-boot override' : '')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
  </section>
);
