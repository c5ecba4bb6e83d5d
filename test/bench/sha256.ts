/**
 * Throughput of the resumable SHA-256 (shared/crypto/sha256.ts) next to the runtime's native one.
 * Run: node_modules/.bin/node test/bench/sha256.ts [MiB]
 */
import { createHash } from 'node:crypto';
import { Sha256 } from '../../shared/crypto/sha256.ts';

const mib = Number(process.argv[2] ?? 256);
const chunk = crypto.getRandomValues(new Uint8Array(1 << 16));
const chunks = (mib * 1024 * 1024) / chunk.length;

function run(label: string, hash: () => void): void {
  const t0 = performance.now();
  hash();
  const s = (performance.now() - t0) / 1000;
  console.log(`${label}: ${(mib / s).toFixed(0)} MiB/s (${mib} MiB in ${s.toFixed(2)} s)`);
}

// Warm-up so the JIT has optimised the block function before timing.
{
  const h = new Sha256();
  for (let i = 0; i < 256; i++) h.update(chunk);
}
run('Sha256 (64 KiB chunks)', () => {
  const h = new Sha256();
  for (let i = 0; i < chunks; i++) h.update(chunk);
  h.digest();
});
run('Sha256 (odd 1000-byte chunks, export/restore every 64 MiB)', () => {
  let h = new Sha256();
  const small = chunk.subarray(0, 1000);
  const n = (mib * 1024 * 1024) / 1000;
  for (let i = 0; i < n; i++) {
    h.update(small);
    if (i % 67_109 === 0) h = Sha256.restore(h.exportState());
  }
  h.digest();
});
run('node:crypto (native, for scale)', () => {
  const h = createHash('sha256');
  for (let i = 0; i < chunks; i++) h.update(chunk);
  h.digest();
});
