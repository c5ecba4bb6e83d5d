import { ConfigError } from '../entry/settings.ts';
import { engineSettings, type EngineSettings } from './engine.ts';
import { parseAllowNets, type WebhookUrlPolicy } from './url-policy.ts';

/**
 * The operator's webhook settings, read once at start (env vars on Node and Deno, vars on Workers):
 *   EDGEBOOT_WEBHOOK_ALLOW_NETS      networks receivers may be in although not global, e.g.
 *                                    `10.20.0.0/16, fd00:1::/64` (default: none)
 *   EDGEBOOT_WEBHOOK_ALLOW_HTTP=1    plain http:// receivers (default: https only)
 *   EDGEBOOT_WEBHOOK_FIRST_RETRY_MS  the first retry's wait; later ones ×3 up to 6 h (default 10000)
 */
export interface WebhookEnv {
  EDGEBOOT_WEBHOOK_ALLOW_NETS?: string;
  EDGEBOOT_WEBHOOK_ALLOW_HTTP?: string;
  EDGEBOOT_WEBHOOK_FIRST_RETRY_MS?: string;
}

export function webhookSettings(env: WebhookEnv): { policy: WebhookUrlPolicy; settings: EngineSettings } {
  let allowNets;
  try {
    allowNets = parseAllowNets(env.EDGEBOOT_WEBHOOK_ALLOW_NETS);
  } catch (err) {
    throw new ConfigError(`EDGEBOOT_WEBHOOK_ALLOW_NETS: ${(err as Error).message}`);
  }
  const http = env.EDGEBOOT_WEBHOOK_ALLOW_HTTP;
  if (http !== undefined && http !== '' && http !== '0' && http !== '1') throw new ConfigError(`EDGEBOOT_WEBHOOK_ALLOW_HTTP must be 1 or 0, not ${JSON.stringify(http)}`);
  const first = env.EDGEBOOT_WEBHOOK_FIRST_RETRY_MS;
  if (first !== undefined && first !== '' && !(/^\d{1,9}$/.test(first) && Number(first) >= 100)) {
    throw new ConfigError(`EDGEBOOT_WEBHOOK_FIRST_RETRY_MS must be a number of milliseconds, at least 100, not ${JSON.stringify(first)}`);
  }
  return {
    policy: { allowHttp: http === '1', allowNets },
    settings: engineSettings(first ? { firstRetryMs: Number(first) } : {}),
  };
}
