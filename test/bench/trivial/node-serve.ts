/** The trivial reference handler on Node, behind the same @hono/node-server as the app. */
import { serve } from '@hono/node-server';
import handler from './fetch-handler.ts';

serve({ fetch: handler.fetch, hostname: '127.0.0.1', port: Number(process.env.PORT ?? 0) }, (info) => {
  console.log(`trivial handler listening on http://127.0.0.1:${info.port}`);
});
