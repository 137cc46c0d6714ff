// The registry's push-URL check: domain/push-url.ts's verdict on every address the URL's host stands
// for. A name is resolved now and every address it resolves to must pass (one private answer among
// public ones is enough to refuse); a name that does not resolve in time is refused too.
// What this cannot see: DNS answers that change after registration (rebinding). This platform stores
// the URL and never dials it; whatever dispatches to it must resolve and check again at connect time.
import { lookup as dnsLookup } from 'node:dns/promises';
import { type Cidr, type PushUrlRefusal, parseIp, pushUrlTarget, refusalFor } from '../../domain/push-url';
import { resultWithin } from './result-within';

const LOOKUP_TIMEOUT_MS = 3000;

export type AddressLookup = (host: string) => Promise<string[]>;

const systemLookup: AddressLookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

export function createPushUrlCheck(allow: readonly Cidr[], lookup: AddressLookup = systemLookup) {
  return async (url: string): Promise<PushUrlRefusal | null> => {
    const target = pushUrlTarget(url);
    if (target.kind === 'refused') return target.reason;
    if (target.kind === 'address') return refusalFor(target.address, allow);
    const addresses = await resultWithin(lookup(target.host), LOOKUP_TIMEOUT_MS).catch(() => null);
    if (!addresses || addresses.length === 0) return 'unresolvable';
    for (const text of addresses) {
      const address = parseIp(text);
      if (!address) return 'unresolvable';
      const refusal = refusalFor(address, allow);
      if (refusal) return refusal;
    }
    return null;
  };
}
