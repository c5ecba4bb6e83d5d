// Fails fast, with a message a person can act on, when an npm script runs on a Node
// older than wrangler, vitest and node:sqlite need. `npm install` puts Node 24 (the `node`
// devDependency) first on PATH for npm scripts; `npm ci --ignore-scripts` or running a
// script with the system Node skips that, and then things break in obscure ways.
import { fileURLToPath } from 'node:url';

/** The refusal for a Node version, or null when it is new enough (>= 22.12). */
export function nodeVersionProblem(version, execPath) {
  const [major, minor] = version.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 12)) return null;
  return (
    `edgeboot needs Node >= 22.12 (found ${version} at ${execPath}).\n` +
    `Run it through npm (npm start / npm test): after a plain \`npm install\` (or \`npm ci\`, without\n` +
    `--ignore-scripts) npm puts the Node 24 from the \`node\` devDependency first on PATH.`
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problem = nodeVersionProblem(process.versions.node, process.execPath);
  if (problem) {
    console.error(problem);
    process.exit(1);
  }
}
