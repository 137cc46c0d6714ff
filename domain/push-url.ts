// Push URLs an agent registers (POST /registry/register `url`) are where the platform would send work:
// a URL into the platform's own network (loopback, RFC 1918, link-local, the cloud metadata service)
// would turn registration into server-side request forgery. Pure: addresses in, verdicts out; name
// resolution is the caller's (api/services/push-url.ts).

/** Why a push URL is refused. Fixed words: the answer never quotes the URL. */
export const PUSH_URL_REFUSALS = [
  'scheme',
  'credentials',
  'metadata',
  'loopback',
  'unspecified',
  'link_local',
  'private',
  'shared_address_space',
  'documentation',
  'multicast',
  'reserved',
  'unresolvable',
] as const;
export type PushUrlRefusal = (typeof PUSH_URL_REFUSALS)[number];

/** An address as 16 bytes (IPv4 as ::ffff:a.b.c.d) and a prefix length over those 128 bits. */
export interface Cidr {
  bytes: Uint8Array;
  prefix: number;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255)) return null;
  return Uint8Array.from(parts.map(Number));
}

function mapped(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  let head = text;
  let tailV4: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (!tailV4) return null;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...left, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...right];
  if (all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (tailV4) out.set(tailV4, 12);
  return out;
}

/** 16 bytes for an IPv4 or IPv6 literal (brackets allowed), null for anything else. */
export function parseIp(text: string): Uint8Array | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (bare.includes(':')) return parseIpv6(bare.replace(/%.*$/, '')); // a zone id does not change the address
  const v4 = parseIpv4(bare);
  return v4 && mapped(v4);
}

/** `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128). Null when malformed. */
export function parseCidr(text: string): Cidr | null {
  const [addr, len, extra] = text.trim().split('/');
  if (extra !== undefined) return null;
  const bytes = parseIp(addr);
  if (!bytes) return null;
  const isV4 = !addr.includes(':');
  const max = isV4 ? 32 : 128;
  if (len !== undefined && !/^[0-9]{1,3}$/.test(len)) return null;
  const n = len === undefined ? max : Number(len);
  if (n > max) return null;
  return { bytes, prefix: isV4 ? n + 96 : n };
}

export function cidrContains(cidr: Cidr, address: Uint8Array): boolean {
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 0x80 >> bit % 8;
    if ((cidr.bytes[bit >> 3] & mask) !== (address[bit >> 3] & mask)) return false;
  }
  return true;
}

const cidrs = (...texts: string[]): Cidr[] => texts.map((t) => parseCidr(t)!);

/** The instance metadata service (AWS IPv4 and IPv6, ECS task metadata, Alibaba): never allowlistable. */
const METADATA = cidrs('169.254.169.254', 'fd00:ec2::254', '169.254.170.2', '100.100.100.200');

/** Refused unless PUSH_URL_ALLOW_CIDRS covers the address. Order matters only for the reason given. */
const REFUSED: Array<[PushUrlRefusal, Cidr[]]> = [
  ['loopback', cidrs('127.0.0.0/8', '::1/128')],
  ['unspecified', cidrs('0.0.0.0/8', '::/128')],
  ['link_local', cidrs('169.254.0.0/16', 'fe80::/10')],
  ['private', cidrs('10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7')],
  ['shared_address_space', cidrs('100.64.0.0/10')],
  ['documentation', cidrs('192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32')],
  ['multicast', cidrs('224.0.0.0/4', 'ff00::/8')],
  // IETF protocol assignments, benchmarking, 240/4 (incl. broadcast), IPv4-compatible IPv6 (::/96).
  ['reserved', cidrs('192.0.0.0/24', '198.18.0.0/15', '240.0.0.0/4', '::/96')],
];

// IPv6 forms that carry an IPv4 address the network may route to: NAT64 and 6to4.
const NAT64 = parseCidr('64:ff9b::/96')!;
const SIX_TO_FOUR = parseCidr('2002::/16')!;

/** The IPv4 address an IPv6 one stands for, if any (mapped ones already are IPv4 here). */
function embeddedIpv4(address: Uint8Array): Uint8Array | null {
  if (cidrContains(NAT64, address)) return mapped(address.slice(12, 16));
  if (cidrContains(SIX_TO_FOUR, address)) return mapped(address.slice(2, 6));
  return null;
}

/** Null when a push URL may point at `address`; else why not. */
export function refusalFor(address: Uint8Array, allow: readonly Cidr[]): PushUrlRefusal | null {
  const inner = embeddedIpv4(address);
  if (inner) {
    const innerRefusal = refusalFor(inner, allow);
    if (innerRefusal) return innerRefusal;
  }
  if (METADATA.some((c) => cidrContains(c, address))) return 'metadata';
  for (const [reason, ranges] of REFUSED) {
    if (ranges.some((c) => cidrContains(c, address))) return allow.some((c) => cidrContains(c, address)) ? null : reason;
  }
  return null;
}

/** `a,b` → CIDRs; throws naming the variable (never its value) on a malformed entry. */
export function parseAllowCidrs(value: string): Cidr[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text) => {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error('invalid configuration: PUSH_URL_ALLOW_CIDRS: expected comma-separated CIDRs such as 127.0.0.0/8,::1/128');
      return cidr;
    });
}

export type PushUrlTarget = { kind: 'refused'; reason: PushUrlRefusal } | { kind: 'address'; address: Uint8Array } | { kind: 'name'; host: string };

/**
 * First look at a URL: scheme and credentials, then its host as an address literal (the WHATWG parser
 * has already turned `0x7f.1`, `2130706433` and `[::ffff:127.0.0.1]` into canonical forms) or a name.
 * `localhost` and `*.localhost` are loopback by definition (RFC 6761), whatever DNS says.
 */
export function pushUrlTarget(raw: string): PushUrlTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { kind: 'refused', reason: 'scheme' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { kind: 'refused', reason: 'scheme' };
  // The URL is stored as given: a password in it would sit in clear in the workspaces table.
  if (url.username || url.password) return { kind: 'refused', reason: 'credentials' };
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const literal = parseIp(host);
  if (literal) return { kind: 'address', address: literal };
  if (host === 'localhost' || host.endsWith('.localhost')) return { kind: 'address', address: parseIp('127.0.0.1')! };
  return { kind: 'name', host };
}
