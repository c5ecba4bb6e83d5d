/**
 * What a command's action needs, derived from the global options of the command line: where to
 * print (and whether as JSON) and a client for the API, made on first use so that commands which
 * need no API (login's own checks, --help) never require a saved profile.
 */
import type { Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { looseModeWarning, resolveConnection, type Env } from './config.ts';
import { processOutput, type Output } from './output.ts';

export interface GlobalOptions {
  json?: boolean;
  url?: string;
}

export interface CommandContext {
  out: Output;
  env: Env;
  api(): ApiClient;
}

let warned = false;

export function contextOf(cmd: Command, env: Env = process.env): CommandContext {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const out = processOutput(Boolean(g.json));
  let client: ApiClient | undefined;
  return {
    out,
    env,
    api() {
      if (!client) {
        const conn = resolveConnection(env, g.url);
        if (conn.tokenFrom === 'config' && !warned) {
          const w = looseModeWarning(env);
          if (w) out.stderr(w);
          warned = true;
        }
        client = new ApiClient(conn);
      }
      return client;
    },
  };
}
