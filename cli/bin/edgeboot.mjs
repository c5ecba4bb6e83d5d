#!/usr/bin/env node
// The `edgeboot` command. Plain JavaScript on purpose: an old Node cannot even parse the
// TypeScript sources, so this file checks the version first and says what to do, then loads the
// CLI (cli/src/main.ts, run by Node's type stripping).
import { nodeVersionProblem } from '../../scripts/node-guard.mjs';

const problem = nodeVersionProblem(process.versions.node, process.execPath);
if (problem) {
  process.stderr.write(
    `edgeboot: this CLI needs Node >= 22.12, but it runs on Node ${process.versions.node} (${process.execPath}).\n` +
      'Run it with a newer Node, e.g. the one `npm install` brings: node_modules/.bin/node cli/bin/edgeboot.mjs …,\n' +
      'or through npm (npx edgeboot …, npm exec edgeboot -- …), which puts that Node first on PATH.\n',
  );
  process.exit(1);
}
if (!process.features.typescript) {
  process.stderr.write(`edgeboot: Node ${process.versions.node} runs TypeScript only with --experimental-strip-types; run: node --experimental-strip-types ${process.argv[1]} …\n`);
  process.exit(1);
}

const { main } = await import('../src/main.ts');
const code = await main(process.argv);
process.exitCode = code;
// Whatever still holds the event loop (an idle keep-alive socket) must not delay the exit.
setTimeout(() => process.exit(code), 2000).unref();
