/** For `node --import`: scripts that import the app (and so the console's .tsx) without going through entry/node.ts. */
import { registerTsx } from './tsx-hooks.ts';

registerTsx();
