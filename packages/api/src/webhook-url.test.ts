import { describe, expect, it } from 'vitest';
import { isPublicAddress, isPublicWebhookUrl } from './webhook-url.js';

describe('alert webhook URLs', () => {
  it('accepts public hosts', () => {
    for (const u of [
      'https://hooks.example.com/credits',
      'http://93.184.216.34/x',
      'https://[2606:4700:4700::1111]/h',
      'https://hooks.example.com./credits',
    ]) {
      expect({ u, ok: isPublicWebhookUrl(u) }).toEqual({ u, ok: true });
    }
  });
  it("refuses the server's own network and odd URLs", () => {
    for (const u of [
      'http://localhost:3000/trpc',
      'http://127.0.0.1/x',
      'http://10.1.2.3/',
      'http://172.20.0.1/',
      'http://192.168.1.1/',
      'http://169.254.169.254/latest/meta-data',
      'http://100.64.0.1/',
      'http://[::1]/',
      'http://[fd00::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://printer.local/',
      'https://user:pass@example.com/',
      'ftp://example.com/',
      'not a url',
      // issue 12: trailing dots, local names, special-purpose ranges (IANA, via ipaddr.js)
      'http://localhost./',
      'http://foo.localhost./',
      'http://ip6-localhost/',
      'http://localhost.localdomain/',
      'http://metadata.google.internal./',
      'http://vm:4650/',
      'http://[::7f00:1]/',
      'http://[64:ff9b::7f00:1]/',
      'http://[fec0::1]/',
      'http://[ff02::1]/',
      'http://198.18.0.1/',
      'http://192.0.0.1/',
      'http://203.0.113.7/',
      'http://[2001:db8::1]/',
      'http://0.0.0.0/',
      'http://2130706433/',
    ]) {
      expect({ u, ok: isPublicWebhookUrl(u) }).toEqual({ u, ok: false });
    }
  });
});

describe('isPublicAddress', () => {
  it('judges IPv4-mapped IPv6 by the IPv4 address it carries', () => {
    expect(isPublicAddress('::ffff:8.8.8.8')).toBe(true);
    expect(isPublicAddress('::ffff:10.0.0.1')).toBe(false);
  });
  it('refuses anything outside 2000::/3 and anything that is not an address', () => {
    for (const a of ['::', '::1', '100::1', 'fe80::1%eth0', 'example.com', '', '1.2.3']) {
      expect({ a, ok: isPublicAddress(a) }).toEqual({ a, ok: false });
    }
  });
});
