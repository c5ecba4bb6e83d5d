/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { Bmc, BmcRecipients, PowerJob } from '../../../shared/schemas/bmc.ts';
import type { FormState } from './fleet-pages.tsx';
import { Badge, Csrf, described, Field, Time } from './layout.tsx';
import type { ConsoleSession } from './session.ts';

/** What the machine page shows of its BMC and power jobs (issue 15); the password is never here, not even sealed. */
export interface PowerView {
  bmc: Bmc | null;
  jobs: PowerJob[];
  /** The site's relays and their public sealing keys: the page's script seals the password to them. */
  recipients: BmcRecipients['relays'];
}

/**
 * Setting the BMC. The password input has no name, so a browser never sends it: the page's script
 * (assets.ts) seals it with WebCrypto to each relay listed in data-recipients, as shared/crypto/seal.ts
 * does, and posts only the ciphertexts in `credentials`. Without the script nothing can be sealed, and
 * the form says so instead of sending anything.
 */
const BmcForm: FC<{ session: ConsoleSession; machineId: string; bmc: Bmc | null; recipients: PowerView['recipients']; form?: FormState }> = ({ session, machineId, bmc, recipients, form }) => {
  const v = (k: string, fallback: string | null | undefined) => form?.values?.[k] ?? fallback ?? '';
  const err = (k: string) => form?.issues.find((i) => i.path === k || i.path.startsWith(`${k}.`))?.message;
  if (recipients.length === 0) {
    return <p class="muted">No relay of this site has a sealing key yet, so no password can be sealed: start the site's relay once (it registers its key at start).</p>;
  }
  const protocol = v('protocol', bmc?.protocol ?? 'ipmi');
  return (
    <details open={bmc === null || form !== undefined}>
      <summary>{bmc === null ? 'Set the BMC' : 'Change the BMC'}</summary>
      <form method="post" action={`/console/machines/${machineId}/bmc`} id="bmc-form" class="stack" data-machine-id={machineId} data-recipients={JSON.stringify(recipients.map((r) => ({ relayId: r.relayId, publicKey: r.publicKey })))}>
        <Csrf session={session} />
        <input type="hidden" name="credentials" value="" />
        <Field id="f-bmc-protocol" label="Protocol" error={err('protocol')}>
          <select id="f-bmc-protocol" name="protocol" {...described('f-bmc-protocol', false, err('protocol'))}>
            <option value="ipmi" selected={protocol === 'ipmi'}>IPMI v2.0 over LAN</option>
            <option value="redfish" selected={protocol === 'redfish'}>Redfish</option>
          </select>
        </Field>
        <Field id="f-bmc-address" label="Address" hint="IPMI: host or host:port (e.g. 10.0.5.21). Redfish: the BMC's URL (e.g. https://10.0.5.21)." error={err('address')}>
          <input type="text" id="f-bmc-address" name="address" required value={v('address', bmc?.address)} {...described('f-bmc-address', true, err('address'))} />
        </Field>
        <Field id="f-bmc-user" label="User" error={err('username')}>
          <input type="text" id="f-bmc-user" name="username" required autocomplete="off" value={v('username', bmc?.username)} {...described('f-bmc-user', false, err('username'))} />
        </Field>
        <Field id="f-bmc-password" label="Password" hint={`Sealed in this browser to ${recipients.length === 1 ? 'the site’s relay' : `each of the site’s ${recipients.length} relays`}; the console never receives it.`}>
          {/* No name attribute: never part of what the form sends. */}
          <input type="password" id="f-bmc-password" required autocomplete="new-password" {...described('f-bmc-password', true, undefined)} />
        </Field>
        <Field id="f-bmc-system" label="Redfish system id (optional)" hint="Default: the only member of /redfish/v1/Systems." error={err('systemId')}>
          <input type="text" id="f-bmc-system" name="systemId" value={v('systemId', bmc?.systemId)} {...described('f-bmc-system', true, err('systemId'))} />
        </Field>
        <Field id="f-bmc-fp" label="Redfish certificate SHA-256 (optional)" hint="Pins the BMC's certificate (64 hex digits, colons allowed)." error={err('tlsFingerprint')}>
          <input type="text" id="f-bmc-fp" name="tlsFingerprint" value={v('tlsFingerprint', bmc?.tlsFingerprint)} {...described('f-bmc-fp', true, err('tlsFingerprint'))} />
        </Field>
        <noscript>
          <p class="msg err">Setting a BMC needs JavaScript: this page seals the password in your browser, so that the console never receives it. Without JavaScript, use <code>edgeboot machines bmc set</code> or the fleet file.</p>
        </noscript>
        <p class="hint" id="bmc-status" role="status"></p>
        <div>
          <button type="submit">Seal the password and save</button>
        </div>
      </form>
    </details>
  );
};

const ACTIONS = [
  ['status', 'Read power state', ''],
  ['on', 'Power on', ''],
  ['shutdown', 'Shut down (OS)', 'Ask the operating system to shut down?'],
  ['off', 'Power off', 'Cut the power now (no clean shutdown)?'],
  ['cycle', 'Power cycle', 'Power-cycle this machine now?'],
  ['reprovision', 'Reprovision now', 'Netboot its assignment now: next boot from the network, then power-cycle?'],
] as const;

export const POWER_ACTIONS: readonly string[] = ACTIONS.map(([a]) => a);

export const PowerSection: FC<{ session: ConsoleSession; machineId: string; writable: boolean; view: PowerView; now: number; form?: FormState }> = ({
  session,
  machineId,
  writable,
  view,
  now,
  form,
}) => (
  <section aria-labelledby="h-power">
    <h2 id="h-power">BMC and power</h2>
    {view.bmc === null ? (
      <p class="muted">
        No BMC. Set one {writable ? 'below, or ' : ''}with <code>edgeboot machines bmc set {machineId} --ipmi ADDRESS --user USER --password-stdin</code>: the
        password is sealed to the site's relays before it leaves your computer.
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
              <dd class="mono">{view.bmc.missingFor.join(', ')} (set the BMC again)</dd>
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
    {writable && <BmcForm session={session} machineId={machineId} bmc={view.bmc} recipients={view.recipients} form={form} />}
    {writable && view.bmc !== null && (
      <form method="post" action={`/console/machines/${machineId}/bmc/delete`}>
        <Csrf session={session} />
        <p>
          <button type="submit" class="danger" data-confirm="Forget this machine's BMC and every sealed password for it?">
            Delete the BMC
          </button>
        </p>
      </form>
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
