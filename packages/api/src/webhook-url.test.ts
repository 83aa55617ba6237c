import { describe, expect, it } from 'vitest';
import { isPublicWebhookUrl } from './webhook-url.js';

describe('alert webhook URLs', () => {
  it('accepts public hosts', () => {
    for (const u of [
      'https://hooks.example.com/credits',
      'http://203.0.113.7/x',
      'https://[2001:db8::1]/h',
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
    ]) {
      expect({ u, ok: isPublicWebhookUrl(u) }).toEqual({ u, ok: false });
    }
  });
});
