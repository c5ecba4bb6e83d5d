import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTftpPump } from '../../../relay/build/native.ts';
import { RelayConfig } from '../../../relay/src/config.ts';
import type { StageEvent } from '../../../relay/src/events.ts';
import { MetricsRegistry } from '../../../relay/src/http/metrics.ts';
import { createLogger } from '../../../relay/src/log.ts';
import { tftpService } from '../../../relay/src/tftp/service.ts';
import { scriptedGet } from './support/scripted-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'eb-tftp-svc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind({ address: '127.0.0.1', port: 0 }, () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function context(tftp: Record<string, unknown>) {
  const events: StageEvent[] = [];
  return {
    events,
    ctx: {
      config: RelayConfig.parse({ boot_files: join(dir, 'ipxe'), http: { public_url: 'http://127.0.0.1:8080' }, tftp }),
      log: createLogger({ quiet: true }),
      events: { emit: (e: StageEvent) => void events.push(e) },
      metrics: new MetricsRegistry(),
    },
  };
}

describe('TFTP as a relay LAN service', () => {
  it('serves the boot binaries (through symlinks, like Debian’s) and the folder, reports transfers and metrics', async () => {
    mkdirSync(join(dir, 'ipxe'));
    mkdirSync(join(dir, 'boot'));
    writeFileSync(join(dir, 'boot', 'ipxe.efi.real'), Buffer.alloc(5000, 0xef));
    symlinkSync(join(dir, 'boot', 'ipxe.efi.real'), join(dir, 'ipxe', 'ipxe.efi'));
    writeFileSync(join(dir, 'ipxe', 'undionly.kpxe'), Buffer.alloc(700, 0x55));
    writeFileSync(join(dir, 'ipxe', 'other.efi'), 'on disk');
    buildTftpPump();
    const { ctx, events } = context({ port: await freePort(), max_windowsize: 8 });
    const svc = await tftpService({ macFor: (ip) => (ip === '127.0.0.1' ? '52:54:00:12:34:56' : undefined) })(ctx);
    try {
      const at = { address: '127.0.0.1', port: svc.port };
      // The symlink leads out of the folder: served because it was loaded into memory at start.
      const efi = await scriptedGet(at, 'ipxe.efi', { options: [['blksize', '1468'], ['windowsize', '16']] });
      expect(efi.oack).toEqual([['blksize', '1468'], ['windowsize', '8']]);
      expect(efi.data.equals(Buffer.alloc(5000, 0xef))).toBe(true);
      expect((await scriptedGet(at, 'other.efi')).data.toString()).toBe('on disk');
      expect((await scriptedGet(at, 'undionly.kpxe')).data.length).toBe(700);
      expect((await scriptedGet(at, '../boot/ipxe.efi.real')).error?.code).toBe(2);
      await new Promise((r) => setTimeout(r, 20));
      expect(events.filter((e) => e.detail?.file === 'ipxe.efi').map((e) => e.stage)).toEqual(['tftp-start', 'tftp-done']);
      expect(events[0]).toMatchObject({ mac: '52:54:00:12:34:56', detail: { client: '127.0.0.1' } });
      const text = ctx.metrics.render();
      expect(text).toContain('edgeboot_relay_tftp_transfers{state="completed"} 3');
      expect(text).toContain('edgeboot_relay_tftp_refused{reason="bad-name"} 1');
      // Sent by the native data path, the default.
      expect(text).toContain('edgeboot_relay_tftp_native 1');
      expect(text).toContain('edgeboot_relay_tftp_transfers{state="native"} 3');
    } finally {
      await svc.close();
    }
  });

  it('sends from Node when [tftp] native = false', async () => {
    const { ctx } = context({ port: await freePort(), native: false });
    const svc = await tftpService()(ctx);
    try {
      expect((await scriptedGet({ address: '127.0.0.1', port: svc.port }, 'undionly.kpxe')).data.length).toBe(700);
      // The server counts the transfer done when the last ACK arrives, after the client has its data.
      await new Promise((r) => setTimeout(r, 20));
      const text = ctx.metrics.render();
      expect(text).toContain('edgeboot_relay_tftp_native 0');
      expect(text).toContain('edgeboot_relay_tftp_transfers{state="native"} 0');
      expect(text).toContain('edgeboot_relay_tftp_transfers{state="completed"} 1');
    } finally {
      await svc.close();
    }
  });

  it('refuses a bad [tftp] table with the rest of relay.toml, naming each key', () => {
    expect(() => context({ port: 69, max_blksize: 4, bogus: 1 })).toThrow(/max_blksize[\s\S]*bogus|bogus[\s\S]*max_blksize/);
  });
});
