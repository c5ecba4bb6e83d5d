import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { configPath, normalizeUrl, readProfile, removeProfile, resolveConnection, saveProfile } from '../config.ts';
import { contextOf, type GlobalOptions } from '../context.ts';
import { CliError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { emit, formatFields } from '../output.ts';

/** A cheap call every human token may make: proves the URL is edgeboot's and the token is accepted. */
async function checkToken(api: ApiClient): Promise<void> {
  await api.get('/v1/sites', { limit: 1 });
}

/** What a token looks like in output: enough to recognise it, never enough to use it. */
const redact = (token: string): string => (token.length > 12 ? `${token.slice(0, 8)}…` : '…');

export function loginCommand(): Command {
  return new Command('login')
    .description('check a token against the API and save it with the URL (config file mode 0600)')
    .option('--url <url>', 'the control plane, e.g. https://edgeboot.example.com (default: EDGEBOOT_URL)')
    .option('--token <token>', 'an API token (default: EDGEBOOT_TOKEN); prefer --token-stdin, which keeps it out of the process list')
    .option('--token-stdin', 'read the token from standard input')
    .addHelpText('after', '\nExample:\n  edgeboot login --url http://127.0.0.1:8787 --token-stdin < token.txt')
    .action(async (o: { token?: string; tokenStdin?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      const g = c.optsWithGlobals<GlobalOptions>();
      const rawUrl = g.url ?? ctx.env.EDGEBOOT_URL;
      if (!rawUrl) throw new CliError(EXIT.USAGE, 'login needs --url (or EDGEBOOT_URL)');
      const token = (o.tokenStdin ? readFileSync(0, 'utf8') : (o.token ?? ctx.env.EDGEBOOT_TOKEN ?? '')).trim();
      if (!token) throw new CliError(EXIT.USAGE, 'login needs a token: --token TOKEN, --token-stdin, or EDGEBOOT_TOKEN');
      const url = normalizeUrl(rawUrl);
      await checkToken(new ApiClient({ url, token }));
      const path = saveProfile(ctx.env, { url, token, savedAt: new Date().toISOString() });
      emit(ctx.out, { url, config: path }, () => `logged in to ${url} (saved to ${path})`);
    });
}

export function logoutCommand(): Command {
  return new Command('logout').description('forget the saved URL and token').action(async (_o, c: Command) => {
    const ctx = contextOf(c);
    const removed = removeProfile(ctx.env);
    emit(ctx.out, { removed }, () => (removed ? `removed ${configPath(ctx.env)}` : 'not logged in'));
  });
}

export function statusCommand(): Command {
  return new Command('status')
    .alias('whoami')
    .description('which API and token the CLI uses, where they come from, and whether the API accepts the token')
    .action(async (_o, c: Command) => {
      const ctx = contextOf(c);
      const conn = resolveConnection(ctx.env, c.optsWithGlobals<GlobalOptions>().url);
      await checkToken(ctx.api());
      const info = {
        url: conn.url,
        urlFrom: conn.urlFrom === 'config' ? configPath(ctx.env) : conn.urlFrom === 'env' ? 'EDGEBOOT_URL' : '--url',
        token: redact(conn.token),
        tokenFrom: conn.tokenFrom === 'config' ? configPath(ctx.env) : 'EDGEBOOT_TOKEN',
        accepted: true,
        savedAt: readProfile(ctx.env)?.savedAt ?? null,
      };
      emit(ctx.out, info, (i) =>
        formatFields([
          ['url', `${i.url} (from ${i.urlFrom})`],
          ['token', `${i.token} (from ${i.tokenFrom})`],
          ['status', 'the API accepts the token'],
        ]),
      );
    });
}
