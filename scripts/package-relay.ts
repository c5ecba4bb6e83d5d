/**
 * The relay as a site installs it, under dist/:
 *
 *   edgeboot-relay-<version>-linux-x64            one executable: a Node single-executable application
 *                                                 (the `node` devDependency's own binary, stripped, with
 *                                                 the relay bundle, its iPXE binaries and its native
 *                                                 parts, edgeboot-tftp-pump and edgeboot-memory.node,
 *                                                 injected)
 *   edgeboot-relay_<version>_amd64.deb            the same executable, the launcher, the systemd unit,
 *                                                 /etc/edgeboot/relay.toml (a conffile), the service user
 *                                                 and state directory (postinst), edgeboot-relay on PATH
 *   <artifact>.sig.json                           version, arch, kind, bytes, sha256, Ed25519 signature
 *
 * Nothing is downloaded but Debian's ipxe package (relay/build/boot-files.ts, through apt).
 *
 * Signing: the release key (an Ed25519 private JWK with a kid) comes from --key FILE or
 * EDGEBOOT_RELEASE_KEY; without either a development key is made once in .cache/relay-release-key.jwk.
 * Its public half is baked into the relay: a relay accepts updates signed by the key of the build
 * it runs (shared/release/statement.ts). Keep a production key offline; publish with
 * `edgeboot relays publish dist/edgeboot-relay-<version>-linux-x64`.
 *
 *   npm run package:relay [-- --version 0.2.0] [--key FILE] [--no-deb]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';
import { buildBootFiles, RELAY_DIST_BOOT } from '../relay/build/boot-files.ts';
import { buildNativeParts } from '../relay/build/native.ts';
import { MEMORY_ADDON_NAME } from '../relay/src/memory-release.ts';
import { nativeAsset } from '../relay/src/native-file.ts';
import { PUMP_ASSET } from '../relay/src/tftp/pump-binary.ts';
import { ReleaseVersion, signRelease, type SignedRelease } from '../shared/release/statement.ts';

const ROOT = resolve(import.meta.dirname, '..');
export const DIST = join(ROOT, 'dist');
const NODE_BINARY = join(ROOT, 'node_modules/node/bin/node');
const DEV_KEY = join(ROOT, '.cache/relay-release-key.jwk');

/**
 * V8 flags baked into the executable, for a small daemon that idles most of the time (measured with
 * test/bench/relay-idle-rss.ts):
 * - a 1 MiB semi-space instead of V8's default of up to 16 MiB, whose pages a young generation that
 *   is mostly empty keeps resident (−4 MiB); the relay's garbage is per-packet and short-lived, so
 *   scavenges of a small space stay cheap.
 * - `--liftoff-only`: the one WebAssembly module the relay runs is undici's HTTP/1 parser (llhttp),
 *   which parses the cloud's few answers a minute. V8 tiers its hot functions up with TurboFan on
 *   background threads; those compilations peak at 24 MiB of malloc'd zones that glibc keeps
 *   afterwards, and touch ~3 MiB more of the executable's code: −12 MiB idle (87.2 → 75.1 MiB).
 *   Liftoff's baseline code is plenty for a parser that sees a few kB a minute. JavaScript's own
 *   tiers (Maglev, TurboFan) are untouched: DHCP and TFTP keep their speed.
 * - `--expose-gc`: the relay gives memory back after a busy spell (relay/src/memory-release.ts) with
 *   a full collection before malloc_trim; nothing else calls `gc`.
 * Measured and left out: --single-threaded and --v8-pool-size=1 (no change), --no-maglev (no
 * change), no code cache (+1.6 MiB, and a slower start), --lite-mode (implies --jitless: no
 * WebAssembly, so no llhttp), --no-maglev --no-turbofan (−2.6 MiB idle, at the cost of every
 * packet's speed).
 */
export const SEA_EXEC_ARGV = ['--max-semi-space-size=1', '--liftoff-only', '--expose-gc'];

export interface PackageOptions {
  version?: string;
  /** Private JWK file; default EDGEBOOT_RELEASE_KEY, else the development key. */
  keyFile?: string;
  deb?: boolean;
  outDir?: string;
}

export interface Packaged {
  version: string;
  executable: string;
  deb: string | null;
  publicKey: JsonWebKey & { kid: string };
}

/** The release key: the given file, or a development key made once under .cache. */
export function releaseKey(file = process.env.EDGEBOOT_RELEASE_KEY): JsonWebKey & { kid: string } {
  const path = file ?? DEV_KEY;
  if (!file && !existsSync(DEV_KEY)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `dev-${randomBytes(4).toString('hex')}` };
    mkdirSync(join(ROOT, '.cache'), { recursive: true });
    writeFileSync(`${DEV_KEY}.tmp`, JSON.stringify(jwk), { mode: 0o600 });
    renameSync(`${DEV_KEY}.tmp`, DEV_KEY);
  }
  const jwk = JSON.parse(readFileSync(path, 'utf8')) as JsonWebKey & { kid?: string };
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d || !jwk.kid) throw new Error(`${path}: not an Ed25519 private JWK with a kid`);
  return jwk as JsonWebKey & { kid: string };
}

function publicHalf(jwk: JsonWebKey & { kid: string }): JsonWebKey & { kid: string } {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid: jwk.kid };
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

async function writeSignature(path: string, statement: Omit<SignedRelease, 'keyId' | 'signature' | 'sha256' | 'bytes'>, key: JsonWebKey & { kid: string }): Promise<SignedRelease> {
  const signed = await signRelease({ ...statement, bytes: statSync(path).size, sha256: await sha256File(path) }, key);
  writeFileSync(`${path}.sig.json`, `${JSON.stringify(signed, null, 2)}\n`);
  return signed;
}

/**
 * zod's API object carries every locale's error messages (`z.locales`, 297 kB of the bundle's
 * 1.37 MB); the relay uses the English ones zod installs itself. V8 keeps the bundle's source for
 * as long as the process runs, so what the bundle holds but never runs still costs memory: with
 * undici's Milo (below) left out too, the bundle is 0.90 MB and the idle relay 0.9 MiB smaller.
 */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'zod-english-only', pluginData: join(dirname(args.importer), '../locales') } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({ contents: "export { default as en } from './en.js';", resolveDir: args.pluginData as string, loader: 'js' }));
  },
};

/**
 * The relay as one CommonJS file for the SEA (Node 24's SEA runs CommonJS only): import.meta is
 * given the executable's path, and the version and trusted keys are baked in.
 */
async function bundleForSea(outfile: string, version: string, keys: JsonWebKey[]): Promise<void> {
  await build({
    entryPoints: [join(ROOT, 'relay/src/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    legalComments: 'none',
    logLevel: 'warning',
    // Whitespace too: V8 keeps the source of a script for as long as it runs (lazy functions are
    // compiled from it), and the SEA carries it once more; names stay for stack traces.
    minifySyntax: true,
    minifyWhitespace: true,
    plugins: [zodEnglishOnly],
    define: {
      EDGEBOOT_RELAY_VERSION: JSON.stringify(version),
      EDGEBOOT_RELAY_RELEASE_KEYS: JSON.stringify(JSON.stringify(keys)),
      // With `esbuildDetection` defined (as in the build of the copy inside Node), undici leaves out
      // its experimental HTTP/1 parser, Milo: two WebAssembly builds, 157 kB, run only with
      // UNDICI_USE_MILO=1. llhttp stays the parser, as it was.
      esbuildDetection: 'true',
      'import.meta.main': 'true',
      'import.meta.url': '__edgeboot_url',
      'import.meta.filename': '__edgeboot_filename',
      'import.meta.dirname': '__edgeboot_dirname',
    },
    banner: {
      js: "var __edgeboot_filename = process.execPath, __edgeboot_dirname = require('node:path').dirname(process.execPath), __edgeboot_url = require('node:url').pathToFileURL(process.execPath).href;",
    },
  });
}

export async function packageRelay(opts: PackageOptions = {}): Promise<Packaged> {
  const version = ReleaseVersion.parse(opts.version ?? (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`the relay is packaged on linux-x64 (this is ${process.platform}-${process.arch})`);
  const key = releaseKey(opts.keyFile);
  const out = opts.outDir ?? DIST;
  const work = join(out, `.work-${version}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    // 1. The bundle, the boot binaries and the native TFTP data path, as SEA assets.
    const main = join(work, 'edgeboot-relay.cjs');
    await bundleForSea(main, version, [publicHalf(key)]);
    const boot = await buildBootFiles(RELAY_DIST_BOOT);
    const assets: Record<string, string> = { 'boot/manifest.json': join(RELAY_DIST_BOOT, 'manifest.json') };
    for (const name of Object.keys(boot.files)) assets[`boot/${name}`] = join(RELAY_DIST_BOOT, name);
    const native = buildNativeParts();
    assets[PUMP_ASSET] = native.pump;
    assets[nativeAsset(MEMORY_ADDON_NAME)] = native.memory;
    const blob = join(work, 'sea.blob');
    writeFileSync(join(work, 'sea.json'), JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, execArgv: SEA_EXEC_ARGV, assets }));
    // The code cache is made under the flags the executable runs with: V8 rejects a cache made under
    // others ("Code cache data rejected", and every function is compiled from source at start).
    execFileSync(process.execPath, [...SEA_EXEC_ARGV, '--experimental-sea-config', join(work, 'sea.json')], { stdio: 'pipe' });

    // 2. Node's own binary, without its debug symbols (−30 MB), with the blob injected.
    const exe = join(work, 'edgeboot-relay');
    copyFileSync(NODE_BINARY, exe);
    chmodSync(exe, 0o755);
    execFileSync('strip', ['--strip-all', exe]);
    const { inject } = createRequire(import.meta.url)('postject') as { inject(file: string, name: string, data: Buffer, o: { sentinelFuse: string }): Promise<void> };
    const quiet = console.log;
    console.log = () => undefined; // postject prints progress and a warning about note sections, not actionable
    try {
      await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2' });
    } finally {
      console.log = quiet;
    }
    const ran = spawnSync(exe, ['version'], { encoding: 'utf8' });
    const said = ran.stdout.trim();
    if (said !== `${version} linux-x64`) throw new Error(`the executable says ${JSON.stringify(said)}: ${ran.stderr}`);
    // Says nothing else: a warning here (a rejected code cache) would be printed by every start.
    if (ran.stderr !== '') throw new Error(`the executable warns: ${ran.stderr}`);

    const exeOut = join(out, `edgeboot-relay-${version}-linux-x64`);
    renameSync(exe, exeOut);
    await writeSignature(exeOut, { version, arch: 'x64', kind: 'executable' }, key);

    // 3. The Debian package.
    let debOut: string | null = null;
    if (opts.deb !== false) {
      const root = join(work, 'deb');
      const lib = join(root, 'usr/lib/edgeboot-relay');
      mkdirSync(lib, { recursive: true });
      mkdirSync(join(root, 'usr/bin'), { recursive: true });
      mkdirSync(join(root, 'lib/systemd/system'), { recursive: true });
      mkdirSync(join(root, 'etc/edgeboot'), { recursive: true });
      mkdirSync(join(root, 'DEBIAN'), { recursive: true });
      copyFileSync(exeOut, join(lib, 'edgeboot-relay'));
      chmodSync(join(lib, 'edgeboot-relay'), 0o755);
      copyFileSync(join(ROOT, 'relay/packaging/launcher.sh'), join(lib, 'launcher'));
      chmodSync(join(lib, 'launcher'), 0o755);
      symlinkSync('../lib/edgeboot-relay/edgeboot-relay', join(root, 'usr/bin/edgeboot-relay'));
      copyFileSync(join(ROOT, 'relay/edgeboot-relay.service'), join(root, 'lib/systemd/system/edgeboot-relay.service'));
      copyFileSync(join(ROOT, 'relay/packaging/relay.toml'), join(root, 'etc/edgeboot/relay.toml'));
      chmodSync(join(root, 'etc/edgeboot/relay.toml'), 0o644);
      for (const s of ['postinst', 'prerm', 'postrm']) {
        copyFileSync(join(ROOT, 'relay/packaging', s), join(root, 'DEBIAN', s));
        chmodSync(join(root, 'DEBIAN', s), 0o755);
      }
      writeFileSync(join(root, 'DEBIAN/conffiles'), '/etc/edgeboot/relay.toml\n');
      const installedKb = Math.ceil(statSync(exeOut).size / 1024) + 8;
      writeFileSync(
        join(root, 'DEBIAN/control'),
        [
          'Package: edgeboot-relay',
          `Version: ${version}`,
          'Architecture: amd64',
          'Maintainer: edgeboot <edgeboot@localhost>',
          `Installed-Size: ${installedKb}`,
          'Depends: passwd, systemd',
          // Power jobs against IPMI BMCs drive ipmitool; Recommends (apt installs it) rather than Depends, so a
          // `dpkg -i` on a box without it still installs: such a relay reports "install the ipmitool package" per IPMI job.
          'Recommends: ipmitool',
          'Section: net',
          'Priority: optional',
          'Description: edgeboot site relay (proxyDHCP/DHCP, TFTP, boot scripts, image cache)',
          ' One executable with its own Node runtime and iPXE binaries, run by systemd as the',
          ' edgeboot-relay user with CAP_NET_BIND_SERVICE only. Enroll it with a code from the',
          ' edgeboot console, then it updates itself from the control plane.',
          '',
        ].join('\n'),
      );
      debOut = join(out, `edgeboot-relay_${version}_amd64.deb`);
      // gzip, not xz: the executable is mostly code and ICU data; xz saves ~20% and takes ~6× as long here.
      execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, `${debOut}.tmp`], { stdio: 'pipe' });
      renameSync(`${debOut}.tmp`, debOut);
      await writeSignature(debOut, { version, arch: 'x64', kind: 'deb' }, key);
    }
    return { version, executable: exeOut, deb: debOut, publicKey: publicHalf(key) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { version: { type: 'string' }, key: { type: 'string' }, 'no-deb': { type: 'boolean' }, out: { type: 'string' } } });
  const started = Date.now();
  const p = await packageRelay({ version: values.version, keyFile: values.key, deb: !values['no-deb'], outDir: values.out });
  for (const f of [p.executable, p.deb]) if (f) console.log(`${f}  ${(statSync(f).size / 1024 ** 2).toFixed(1)} MiB`);
  console.log(`release key ${p.publicKey.kid}; ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
