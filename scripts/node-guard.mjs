// Fails fast, with a message a person can act on, when an npm script runs on a Node
// older than wrangler, vitest and node:sqlite need. `npm install` puts Node 24 (the `node`
// devDependency) first on PATH for npm scripts; `npm ci --ignore-scripts` or running a
// script with the system Node skips that, and then things break in obscure ways.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(
    `edgeboot needs Node >= 22.12 (found ${process.versions.node} at ${process.execPath}).\n` +
      `Run it through npm (npm start / npm test): after a plain \`npm install\` (or \`npm ci\`, without\n` +
      `--ignore-scripts) npm puts the Node 24 from the \`node\` devDependency first on PATH.`,
  );
  process.exit(1);
}
