/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { Inventory } from '../../../shared/schemas/machine.ts';
import { bytes, Table, Time } from './layout.tsx';

/** Link speed as people say it: 25 Gb/s, 100 Mb/s. */
const speed = (mbps: number | undefined) => (mbps === undefined ? '—' : mbps >= 1000 ? `${mbps / 1000} Gb/s` : `${mbps} Mb/s`);
const yesNo = (b: boolean | null | undefined) => (b === true ? 'on' : b === false ? 'off' : 'unknown');

/**
 * A machine's hardware as its imager last reported it (issue 17): CPU, memory, disks, NICs and
 * firmware. Nothing until a report came: a machine that never ran the imager says so.
 */
export const InventorySection: FC<{ inventory: Inventory | null | undefined; now: number }> = ({ inventory: inv, now }) => (
  <section aria-labelledby="h-inventory">
    <h2 id="h-inventory">Hardware</h2>
    {!inv ? (
      <p class="muted">Not reported yet: the imager reports the hardware when the machine boots it.</p>
    ) : (
      <>
        <dl class="facts">
          <dt>CPU</dt>
          <dd>
            {inv.cpu.count} × {inv.cpu.model ?? 'unknown model'}
            {inv.cpu.arch ? ` (${inv.cpu.arch})` : ''}
          </dd>
          <dt>Memory</dt>
          <dd>
            {bytes(inv.memoryBytes)}
            {inv.memoryUsableBytes !== undefined ? ` (${bytes(inv.memoryUsableBytes)} usable)` : ''}
          </dd>
          <dt>Firmware</dt>
          <dd>
            {inv.firmware.mode === 'uefi' ? 'UEFI' : 'BIOS'}, Secure Boot {yesNo(inv.firmware.secureBoot)}
            {inv.firmware.biosVersion ? `, ${inv.firmware.biosVendor ? `${inv.firmware.biosVendor} ` : ''}${inv.firmware.biosVersion}` : ''}
          </dd>
          <dt>System</dt>
          <dd>{[inv.firmware.vendor, inv.firmware.product].filter(Boolean).join(' ') || '—'}</dd>
          <dt>System serial</dt>
          <dd class="mono">{inv.firmware.serial ?? '—'}</dd>
          <dt>Reported</dt>
          <dd>
            <Time at={inv.reportedAt} now={now} />
          </dd>
        </dl>
        <Table caption={`Disks (${inv.disks.length})`}>
          <thead>
            <tr>
              <th scope="col">Disk</th>
              <th scope="col" class="num">
                Size
              </th>
              <th scope="col">Model</th>
              <th scope="col">Serial</th>
              <th scope="col">Type</th>
            </tr>
          </thead>
          <tbody>
            {inv.disks.map((d) => (
              <tr>
                <td class="mono">{d.name}</td>
                <td class="num">{bytes(d.sizeBytes)}</td>
                <td>{d.model ?? '—'}</td>
                <td class="mono">{d.serial ?? '—'}</td>
                <td>{[d.rotational === true ? 'spinning' : d.rotational === false ? 'solid-state' : null, d.removable ? 'removable' : null].filter(Boolean).join(', ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Table caption={`Network interfaces (${inv.nics.length})`}>
          <thead>
            <tr>
              <th scope="col">Interface</th>
              <th scope="col">MAC</th>
              <th scope="col">Driver</th>
              <th scope="col">Link</th>
            </tr>
          </thead>
          <tbody>
            {inv.nics.map((n) => (
              <tr>
                <td class="mono">{n.name}</td>
                <td class="mono">{n.mac}</td>
                <td>{n.driver ?? '—'}</td>
                <td>{n.speedMbps === undefined ? 'down or unknown' : speed(n.speedMbps)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      </>
    )}
  </section>
);
