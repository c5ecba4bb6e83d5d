import type { FileGrants } from './file-grants.ts';
import type { ImageCache } from './image-cache.ts';

/**
 * The cloud's signed image URLs, as it renders them for this relay's base, in scripts and in the
 * imager's job: `<base>/v1/files/<img>?sig=…`. Each is served to a client as a grant for the image
 * cache, bound to that client's address and MAC (file-grants.ts); the signed path is remembered as
 * the image's upstream source for the cache's fill.
 */
const FILE_URL = /(https?:\/\/[^\s/"]+|\(http,[^)\s'"]+\))\/v1\/files\/(img_[0-9a-z]{26})\?sig=([A-Za-z0-9._~-]+)/g;
/** GRUB's device syntax for the relay's base: `(http,host:port)`. */
function grubBase(base: string): string {
  const u = new URL(base);
  return `(http,${u.host})`;
}

export interface FileUrlDeps {
  grants: FileGrants;
  cache: ImageCache;
  /** http://<relay LAN address>[:port] */
  baseUrl: string;
}

/** Both spellings: `http://host/v1/files/…` (iPXE, the imager) and `(http,host)/v1/files/…` (GRUB), kept in their own. */
export function rewriteFileUrls(d: FileUrlDeps, text: string, mac: string, ip: string): string {
  return text.replace(FILE_URL, (_m, base: string, imageId: string, sig: string) => {
    d.cache.setSource(imageId, `/v1/files/${imageId}?sig=${sig}`);
    return `${base.startsWith('(') ? grubBase(d.baseUrl) : d.baseUrl}/files/${imageId}/${d.grants.mint(imageId, ip, mac)}`;
  });
}
