/** Settings every entry reads the same way. Web-standard only: the Workers entry imports it too. */

/** A setting that makes starting pointless: Node and Deno print it and exit 2, Workers fail the request. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * EDGEBOOT_ADMIN_TOKEN (env var or Workers secret), or undefined when unset. It is accepted as admin
 * with no expiry, so a short, guessable value is refused rather than trusted.
 */
export function adminTokenSetting(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (!/^[A-Za-z0-9_-]{24,128}$/.test(value)) throw new ConfigError('EDGEBOOT_ADMIN_TOKEN must be 24 to 128 characters of A-Z a-z 0-9 _ -');
  return value;
}
