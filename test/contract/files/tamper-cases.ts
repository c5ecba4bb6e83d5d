/**
 * The signed-URL tamper suite over HTTP: variants of one valid `/v1/files/<id>?sig=<token>` URL, each
 * with the status it must get. Pure and Web-standard (also imported inside workerd). Cases that
 * need a known key or a moved clock (expired by 1 s, beyond the maximum lifetime, a genuine MAC
 * over a bad field) are in files-clock.test.ts; raw request lines that fetch() would normalise
 * are in files-raw-http.test.ts.
 */
export interface TamperCase {
  name: string;
  method: string;
  /** Path and query, sent as they are (fetch() may still resolve dot segments: none here). */
  target: string;
  /** 400 malformed, 401 no sig at all, 403 well-formed but not valid for this request. */
  status: 400 | 401 | 403;
}

export interface SignedFile {
  imageId: string;
  token: string;
}

/** Changes the character at `i` into another one of the same class, so only the value differs. */
export function flipChar(s: string, i: number): string {
  const ch = s[i]!;
  const next = /[0-9]/.test(ch) ? String((Number(ch) + 1) % 10) : ch === 'z' ? 'y' : ch === 'Z' ? 'Y' : ch === '_' || ch === '-' ? 'a' : String.fromCharCode(ch.charCodeAt(0) + 1);
  return s.slice(0, i) + next + s.slice(i + 1);
}

/** `ours` is the URL under attack, `other` a valid URL of another image (same key, same site). */
export function tamperCases(ours: SignedFile, other: SignedFile): TamperCase[] {
  const [v, kid, exp, site, mac] = ours.token.split('.') as [string, string, string, string, string];
  const tok = (parts: Partial<{ v: string; kid: string; exp: string; site: string; mac: string }>) =>
    [parts.v ?? v, parts.kid ?? kid, parts.exp ?? exp, parts.site ?? site, parts.mac ?? mac].join('.');
  const path = `/v1/files/${ours.imageId}`;
  const get = (name: string, target: string, status: TamperCase['status']): TamperCase => ({ name, method: 'GET', target, status });
  const withSig = (token: string, p = path) => `${p}?sig=${token}`;
  // A MAC of 32 bytes is 43 base64url chars whose last one carries 4 bits; flipping the middle keeps it canonical.
  const midMac = flipChar(mac, 20);
  const idHead = ours.imageId.slice(0, -1);
  const idTail = ours.imageId.slice(-1);
  return [
    // Each field changed by one character.
    get('another token version', withSig(tok({ v: 'v2' })), 400),
    get('a key id changed by one character (unknown key)', withSig(tok({ kid: flipChar(kid, kid.length - 1) })), 403),
    get('an expiry changed by one digit', withSig(tok({ exp: flipChar(exp, exp.length - 1) })), 403),
    get('an expiry pushed one second later', withSig(tok({ exp: String(Number(exp) + 1) })), 403),
    get('a site changed by one character', withSig(tok({ site: flipChar(site, site.length - 1) })), 403),
    get('a MAC changed by one character', withSig(tok({ mac: midMac })), 403),
    get('a MAC changed in its first character', withSig(tok({ mac: flipChar(mac, 0) })), 403),
    // Paths the token does not name.
    get('the token of another image', withSig(other.token), 403),
    get('this token on another image', withSig(ours.token, `/v1/files/${other.imageId}`), 403),
    get('a trailing slash', withSig(ours.token, `${path}/`), 403),
    get('an extra segment', withSig(ours.token, `${path}/content`), 403),
    get('a percent-encoded letter in the id (%69 for i)', withSig(ours.token, `/v1/files/%${ours.imageId.charCodeAt(0).toString(16)}${ours.imageId.slice(1)}`), 403),
    get('a percent-encoded slash before the id', withSig(ours.token, `/v1/files/%2F${ours.imageId}`), 403),
    get('a doubled slash inside the path', withSig(ours.token, `/v1/files//${ours.imageId}`), 403),
    get('the id in upper case', withSig(ours.token, `/v1/files/${ours.imageId.toUpperCase()}`), 403),
    get('a path parameter after the id', withSig(ours.token, `${path};x=1`), 403),
    get('digit moved from the path into the expiry', withSig(tok({ exp: idTail + exp }), `/v1/files/${idHead}`), /[1-9]/.test(idTail) ? 403 : 400 /* a leading 0 makes a malformed expiry */),
    get('digit moved from the expiry onto the path', withSig(tok({ exp: exp.slice(1) }), `${path}${exp[0]}`), exp[1] === '0' ? 400 : 403),
    // Expiries that are not a plain decimal.
    get('a non-numeric expiry', withSig(tok({ exp: 'tomorrow' })), 400),
    get('a negative expiry', withSig(tok({ exp: `-${exp}` })), 400),
    get('a huge expiry', withSig(tok({ exp: '99999999999999999999' })), 400),
    get('an expiry with a leading zero', withSig(tok({ exp: `0${exp}` })), 400),
    get('an expiry in exponent notation', withSig(tok({ exp: '1e10' })), 400),
    // MACs of the wrong length or alphabet.
    get('a truncated MAC', withSig(tok({ mac: mac.slice(0, -1) })), 400),
    get('an overlong MAC', withSig(tok({ mac: `${mac}A` })), 400),
    get('a padded MAC', withSig(tok({ mac: `${mac}=` })), 400),
    get('a MAC in standard base64 (+ and /)', withSig(tok({ mac: `${mac.slice(0, 10)}%2B%2F${mac.slice(12)}` })), 400),
    get('a MAC with a non-canonical last character', withSig(tok({ mac: mac.slice(0, -1) + String.fromCharCode(mac.charCodeAt(42) + 1) })), 400),
    get('an empty MAC', withSig(tok({ mac: '' })), 400),
    // Key ids.
    get('an unknown key id', withSig(tok({ kid: 'knotakey0' })), 403),
    get('a key id in upper case', withSig(tok({ kid: kid.toUpperCase() })), 400),
    get('a key id that is too long', withSig(tok({ kid: 'k'.repeat(17) })), 400),
    // Methods the token does not allow.
    { name: 'POST', method: 'POST', target: withSig(ours.token), status: 403 },
    { name: 'PUT', method: 'PUT', target: withSig(ours.token), status: 403 },
    { name: 'DELETE', method: 'DELETE', target: withSig(ours.token), status: 403 },
    { name: 'PATCH', method: 'PATCH', target: withSig(ours.token), status: 403 },
    // The parameter itself.
    get('no sig parameter', path, 401),
    get('the sig parameter under another case', `${path}?SIG=${ours.token}`, 401),
    get('an empty sig', `${path}?sig=`, 400),
    get('two sig parameters (both valid)', `${path}?sig=${ours.token}&sig=${ours.token}`, 400),
    get('two sig parameters, one percent-encoded name', `${path}?sig=${ours.token}&%73ig=${other.token}`, 400),
    get('a token with four fields', withSig([v, kid, exp, mac].join('.')), 400),
    get('a token with six fields', withSig(`${ours.token}.x`), 400),
    get('a token over 256 characters', withSig(`${ours.token}${'A'.repeat(256)}`), 400),
  ];
}
