import { describe, expect, it } from 'vitest';
import { addressRefusal, checkWebhookUrl, parseAllowNets, parseIPv6, STRICT_POLICY } from '../../cloud/src/webhooks/url-policy.ts';

const refused = (url: string) => {
  const r = checkWebhookUrl(url, STRICT_POLICY);
  return r.ok ? null : r.reason;
};

describe('webhook URL policy (no SSRF from the control plane)', () => {
  it('accepts an https URL on a public name or a public address', () => {
    expect(refused('https://hooks.example.com/edgeboot?x=1')).toBeNull();
    expect(refused('https://93.184.215.14:8443/in')).toBeNull();
    expect(refused('https://[2606:4700::6810:84e5]/in')).toBeNull();
  });

  it.each([
    ['loopback', 'https://127.0.0.1/'],
    ['loopback, another address of 127/8', 'https://127.8.9.10/'],
    ['cloud metadata (link-local)', 'https://169.254.169.254/latest/meta-data/'],
    ['10/8', 'https://10.0.0.5/'],
    ['172.16/12', 'https://172.31.255.1/'],
    ['192.168/16', 'https://192.168.1.1/'],
    ['carrier-grade NAT', 'https://100.64.0.1/'],
    ['this network', 'https://0.0.0.0/'],
    ['IPv6 loopback', 'https://[::1]/'],
    ['IPv6 unspecified', 'https://[::]/'],
    ['IPv6 link-local', 'https://[fe80::1]/'],
    ['IPv6 unique local', 'https://[fd12:3456::1]/'],
    ['IPv4-mapped IPv6 loopback', 'https://[::ffff:127.0.0.1]/'],
    ['IPv4-mapped IPv6, hex spelling', 'https://[::ffff:7f00:1]/'],
    ['NAT64 of a private address', 'https://[64:ff9b::a00:1]/'],
    ['decimal IPv4', 'https://2130706433/'],
    ['hex IPv4', 'https://0x7f000001/'],
    ['dotted hex IPv4', 'https://0x7f.0.0.1/'],
    ['octal IPv4', 'https://0177.0.0.1/'],
    ['short IPv4', 'https://127.1/'],
    ['decimal metadata address', 'https://2852039166/'],
    ['full-width digits', 'https://１２７．０．０．１/'],
    ['localhost', 'https://localhost/'],
    ['a name under localhost', 'https://api.localhost/'],
    ['an mDNS name', 'https://printer.local/'],
    ['a single-label name', 'https://intranet/'],
    ['a Unicode name mapping to localhost', 'https://ｌｏｃａｌｈｏｓｔ/'],
  ])('refuses %s (%s)', (_what, url) => {
    expect(refused(url)).toMatch(/private, loopback or link-local|local name/);
  });

  it('turns a Unicode host into its punycode name and checks that', () => {
    const r = checkWebhookUrl('https://bücher.example/hook', STRICT_POLICY);
    expect(r.ok && r.verdict.url.hostname).toBe('xn--bcher-kva.example');
  });

  it('refuses plain http and other schemes unless http is allowed', () => {
    expect(refused('http://hooks.example.com/')).toMatch(/EDGEBOOT_WEBHOOK_ALLOW_HTTP/);
    expect(refused('ftp://hooks.example.com/')).toMatch(/https/);
    expect(refused('file:///etc/passwd')).toMatch(/https/);
    expect(checkWebhookUrl('http://hooks.example.com/', { allowHttp: true, allowNets: [] }).ok).toBe(true);
  });

  it('refuses credentials in the URL', () => {
    expect(refused('https://user:pw@hooks.example.com/')).toMatch(/user:password/);
  });

  it('lets the operator allow one private network and nothing next to it', () => {
    const policy = { allowHttp: false, allowNets: parseAllowNets('10.20.0.0/16, ::1/128') };
    expect(checkWebhookUrl('https://10.20.3.4/', policy).ok).toBe(true);
    expect(checkWebhookUrl('https://10.21.0.1/', policy).ok).toBe(false);
    expect(checkWebhookUrl('https://[::1]/', policy).ok).toBe(true);
    expect(checkWebhookUrl('https://127.0.0.1/', policy).ok).toBe(false);
  });

  it('checks resolved addresses the same way', () => {
    expect(addressRefusal('192.168.0.10', STRICT_POLICY)).toMatch(/private/);
    expect(addressRefusal('::ffff:169.254.169.254', STRICT_POLICY)).toMatch(/private/);
    expect(addressRefusal('8.8.8.8', STRICT_POLICY)).toBeNull();
    expect(addressRefusal('2a00:1450:4007:80f::200e', STRICT_POLICY)).toBeNull();
  });

  it('parses IPv6 text forms, embedded IPv4 included', () => {
    expect([...parseIPv6('::ffff:10.1.2.3')!.slice(10)]).toEqual([0xff, 0xff, 10, 1, 2, 3]);
    expect([...parseIPv6('1:2:3:4:5:6:7:8')!]).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    expect(parseIPv6('1::2::3')).toBeNull();
    expect(parseIPv6('1:2:3:4:5:6:7:8:9')).toBeNull();
  });

  it('refuses a malformed allow-list entry with its text', () => {
    expect(() => parseAllowNets('10.0.0.0/33')).toThrow(/10.0.0.0\/33/);
    expect(() => parseAllowNets('intranet')).toThrow(/intranet/);
  });
});
