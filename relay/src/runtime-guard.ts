/**
 * Refuses a Node too old for the relay before anything else loads: on Node 20 the bundled undici
 * dies with a raw TypeError at the first request. main.ts imports this module first, so in the
 * bundle it runs before undici's own top-level code. The packaged executable carries its own
 * Node 24 and never trips it.
 */
const NEED = [22, 12] as const;
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < NEED[0] || (major === NEED[0] && minor < NEED[1])) {
  process.stderr.write(
    `edgeboot-relay: needs Node >= ${NEED.join('.')}, but runs on Node ${process.versions.node} (${process.execPath}).\n` +
      'Install the packaged relay (edgeboot-relay_<version>_amd64.deb or the edgeboot-relay-<version>-linux-x64 executable), which carries its own runtime.\n',
  );
  process.exit(78); // EXIT.config: a restart will not help
}
export {};
