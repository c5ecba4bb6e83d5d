/**
 * undici's Pool without the rest of undici. The package's index also loads fetch, WebSocket,
 * EventSource, the HTTP cache, cookies and the mocks, none of which the relay uses: half of the
 * bundle's 2.2 MB and 3.3 MiB of the idle relay's resident memory (test/bench/relay-idle-rss.ts).
 *
 * The index gives every dispatcher its API methods (`Object.assign(Dispatcher.prototype, api)`,
 * undici/index.js); this does the same for the one the relay calls, `request`.
 */
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import Pool from 'undici/lib/dispatcher/pool.js';
import request from 'undici/lib/api/api-request.js';

if (typeof Dispatcher.prototype.request !== 'function') Object.assign(Dispatcher.prototype, { request });

export { Pool };
