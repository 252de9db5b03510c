import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { promises as dns } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { badArgument } from '#common';
import { CONNECT_REFUSED_CODE, type ConnectGuard } from '#storage';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

/** What a tenant hears when its endpoint is refused: never what lies at that address. */
export const ENDPOINT_REFUSED = 'storage.endpoint is not an address the gateway may connect to';

/** Error code of a connection refused by the policy at socket time (see `lookup`). */
export const ENDPOINT_DENIED_CODE = CONNECT_REFUSED_CODE;

export function parseCidrs(list: string): Cidr[] {
  return list
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '')
    .map((c) => ipaddr.parseCIDR(c));
}

/** IPv6 forms that carry an IPv4 address a packet may end up at: mapped, compatible, NAT64. */
const NAT64 = ipaddr.parseCIDR('64:ff9b::/96');

/**
 * The address a connection would really reach. `::ffff:a.b.c.d` (mapped), `::a.b.c.d` (the deprecated
 * compatible form; `::` and `::1` themselves are not IPv4) and `64:ff9b::a.b.c.d` (NAT64) unwrap to
 * the IPv4 address, so a deny list written in IPv4 cannot be side-stepped by spelling it in IPv6.
 */
export function effectiveAddress(addr: Address): Address {
  if (addr.kind() !== 'ipv6') return addr;
  const v6 = addr as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
  const parts = v6.parts;
  const upperZero = parts.slice(0, 6).every((p) => p === 0);
  if (upperZero && (parts[6] !== 0 || parts[7] > 1)) return ipaddr.fromByteArray(v6.toByteArray().slice(12));
  if (v6.match(NAT64)) return ipaddr.fromByteArray(v6.toByteArray().slice(12));
  return addr;
}

const inAny = (addr: Address, cidrs: Cidr[]) => cidrs.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));

/**
 * Which addresses S3/OBS endpoints may reach (JCS_ENDPOINT_DENY / JCS_ENDPOINT_ALLOW). A tenant chooses
 * the endpoint, so without this it could make the gateway probe its own network (cloud metadata,
 * link-local services). Names are judged by every address they resolve to, at space create/test and
 * again at connect time through `lookup` (a name that re-resolves elsewhere later - DNS rebinding - is
 * caught by the socket's own lookup).
 */
export class EndpointPolicy implements ConnectGuard {
  private readonly deny: Cidr[];
  private readonly allow: Cidr[] | null;

  constructor(opts: { deny: string; allow: string }) {
    this.deny = parseCidrs(opts.deny);
    const allow = parseCidrs(opts.allow);
    this.allow = allow.length ? allow : null;
  }

  /** Whether a literal address (any textual IPv4 or IPv6 form) may be connected to. */
  permits(address: string): boolean {
    let addr: Address;
    try {
      addr = ipaddr.parse(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
    } catch {
      return false;
    }
    const real = effectiveAddress(addr);
    if (inAny(addr, this.deny) || inAny(real, this.deny)) return false;
    return this.allow === null || inAny(real, this.allow);
  }

  /** The host of an endpoint URL, as sockets will see it (WHATWG URL folds `http://2852039166/` to an IPv4). */
  static hostOf(endpoint: string): string {
    return new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  }

  /** A literal-IP endpoint host: judged now (sockets skip `lookup` for literal addresses). */
  literalPermitted(endpoint: string): boolean | undefined {
    const host = EndpointPolicy.hostOf(endpoint);
    return ipaddr.isValid(host) ? this.permits(host) : undefined;
  }

  /**
   * Refuses (BadArgument) an endpoint whose host is, or resolves to, any address the policy does not
   * permit. A name that does not resolve is refused too: it cannot be judged.
   */
  async assertPermitted(endpoint: string): Promise<void> {
    let host: string;
    try {
      host = EndpointPolicy.hostOf(endpoint);
    } catch {
      throw badArgument('storage.endpoint must be an http(s) URL');
    }
    const literal = this.literalPermitted(endpoint);
    if (literal === false) throw badArgument(ENDPOINT_REFUSED);
    if (literal === true) return;
    let addresses: LookupAddress[];
    try {
      addresses = await dns.lookup(host, { all: true, verbatim: true });
    } catch {
      throw badArgument('storage.endpoint host name does not resolve');
    }
    if (addresses.length === 0 || !addresses.every((a) => this.permits(a.address))) throw badArgument(ENDPOINT_REFUSED);
  }

  /**
   * A `lookup` for sockets (http.Agent / https.Agent option): resolves like `dns.lookup`, then fails
   * the connection before it is attempted when any resolved address is not permitted.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const all: LookupAllOptions = { ...(options as object), all: true };
    dnsLookup(hostname, all, (err, addresses) => {
      if (err) return callback(err, '', 4);
      if (addresses.length === 0 || !addresses.every((a) => this.permits(a.address))) {
        const denied = Object.assign(new Error(`connection to ${hostname} refused by the gateway's endpoint policy`), { code: ENDPOINT_DENIED_CODE });
        return callback(denied, '', 4);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
