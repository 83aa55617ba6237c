import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Alert webhooks are posted by the server, so a workspace must not point them at the
 * server's own network. Two checks, one policy:
 *
 * - {@link isPublicWebhookUrl} judges the URL's text when an owner saves it (a quick, clear
 *   refusal for obvious cases: local names, non-public IP literals, credentials in the URL).
 * - {@link isPublicAddress} is what the delivery applies to every address it is about to
 *   connect to, after resolving the name, at connect time (see the server's
 *   `webhook-fetch.ts`): a name that resolves to a private address, now or after a DNS
 *   change, is refused there, whatever its text looked like.
 */

/**
 * Host names that always mean "this machine or its network" (RFC 6761 special-use names and
 * the common local suffixes); compared after trailing dots are removed.
 */
const LOCAL_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'ip6-localhost',
  'ip6-loopback',
  'localdomain',
]);
const LOCAL_SUFFIXES = [
  '.localhost',
  '.localdomain',
  '.local',
  '.internal',
  '.intranet',
  '.lan',
  '.home',
  '.corp',
  '.private',
  '.home.arpa',
  '.arpa',
];

/** The global unicast space IANA allocates IPv6 addresses from; everything else is special. */
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

/**
 * `example.com.` → `example.com`; `[::1]` → `::1`; lower case. A trailing dot makes a name
 * fully qualified without changing where it points, so every check runs on the form without.
 */
export function normalizeHost(host: string): string {
  return host
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.+$/, '');
}

/**
 * May the server connect to this IP address on an owner's behalf? Only ordinary public
 * unicast: IPv4 whose IANA special-purpose range (ipaddr.js `range()`) is `unicast`; IPv6 in
 * 2000::/3 whose range is `unicast`. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is judged as the
 * IPv4 address it carries; the translated forms (64:ff9b::/96, 64:ff9b:1::/48,
 * ::ffff:0:0:0/96), 6to4, Teredo, the IPv4-compatible `::a.b.c.d`, site-local, multicast,
 * documentation and benchmarking ranges are all refused. Anything that does not parse is refused.
 *
 * @example
 * isPublicAddress('8.8.8.8') // → true
 * isPublicAddress('::ffff:127.0.0.1') // → false
 * isPublicAddress('198.18.0.1') // → false (benchmarking)
 */
export function isPublicAddress(address: string): boolean {
  const host = normalizeHost(address).replace(/%.*$/, ''); // a zone id (fe80::1%eth0) is never public
  if (!ipaddr.isValid(host) || isIP(host) === 0) return false;
  let parsed = ipaddr.parse(host);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
  }
  if (parsed.kind() === 'ipv4') return parsed.range() === 'unicast';
  const v6 = parsed as ipaddr.IPv6;
  return v6.match(IPV6_GLOBAL_UNICAST) && v6.range() === 'unicast';
}

/** A host name (not an IP literal) that means the server's own machine or network. */
function isLocalName(host: string): boolean {
  if (LOCAL_NAMES.has(host)) return true;
  if (LOCAL_SUFFIXES.some((s) => host.endsWith(s))) return true;
  // A single-label name ("vm", "db", "metadata") is resolved through the machine's own search
  // domains and /etc/hosts: never a public receiver.
  return !host.includes('.');
}

/**
 * The URL's text may name a public receiver: http(s), no credentials, a host that is not a
 * local name and, when it is an IP literal, a public address ({@link isPublicAddress}).
 * Trailing dots are ignored (`localhost.` is `localhost`). This does not resolve names:
 * delivery checks the resolved address at connect time.
 */
export function isPublicWebhookUrl(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
  if (url.username || url.password) return false;
  const host = normalizeHost(url.hostname);
  if (host === '') return false;
  if (isIP(host) !== 0) return isPublicAddress(host);
  return !isLocalName(host);
}
