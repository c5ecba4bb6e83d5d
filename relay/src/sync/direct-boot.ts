import { fromBase64url } from '../../../shared/crypto/base64url.ts';
import { signToken, type SigningKey } from '../../../shared/crypto/signed-url.ts';
import type { Credentials } from './credentials.ts';

/**
 * Direct chaining (issue C): an iPXE build with HTTPS and the site's CA fetches its script from the
 * cloud itself, at `GET /v1/boot/<mac>?sig=…`, with a token this relay signs with the key it got at
 * enrollment (cloud/src/boot/relay-boot-key.ts verifies it). The token is bound to the path (so to
 * the MAC) and the relay's site, and lives `ttlSeconds` (the cloud caps it at an hour): it rides in
 * a DHCP answer and is used seconds later.
 */
export class DirectBootUrls {
  readonly #key: SigningKey;
  readonly #cloud: string;
  readonly #site: string;
  readonly #ttl: number;

  constructor(creds: Pick<Credentials, 'bootKey' | 'bootKeyId' | 'siteId'>, cloudUrl: string, ttlSeconds = 600) {
    this.#key = { kid: creds.bootKeyId, secret: fromBase64url(creds.bootKey) };
    this.#cloud = cloudUrl.replace(/\/$/, '');
    this.#site = creds.siteId;
    this.#ttl = ttlSeconds;
  }

  /** The script URL for `mac` (colon form); `${uuid}` is left for iPXE to expand, as on the LAN. */
  async urlFor(mac: string, archCode: number, nowMs = Date.now()): Promise<string> {
    const path = `/v1/boot/${mac.replaceAll(':', '-')}`;
    const now = Math.floor(nowMs / 1000);
    const sig = await signToken(this.#key, { method: 'GET', path, site: this.#site, expiresAt: now + this.#ttl }, now);
    return `${this.#cloud}${path}?sig=${sig}&arch=${archCode}&uuid=\${uuid}`;
  }
}
