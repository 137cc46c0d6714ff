// Push URL ranges (domain/push-url.ts) and the resolving check (api/services/push-url.ts) with an
// injected resolver; the registry route itself is tested in test/integration/hardening.test.ts.
import { createPushUrlCheck } from '../../api/services/push-url';
import { loadConfig } from '../../config';
import { parseAllowCidrs, parseCidr, parseIp, pushUrlTarget, refusalFor } from '../../domain/push-url';

const check = (url: string, allow = '', lookup?: (host: string) => Promise<string[]>) => createPushUrlCheck(parseAllowCidrs(allow), lookup)(url);
const noDns = async (): Promise<string[]> => {
  throw new Error('no lookup expected');
};

describe('parseIp / parseCidr', () => {
  it('reads IPv4, IPv6, mapped and bracketed forms as 16 bytes', () => {
    expect(Array.from(parseIp('127.0.0.1')!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1]);
    expect(parseIp('::ffff:127.0.0.1')).toEqual(parseIp('127.0.0.1'));
    expect(parseIp('[::ffff:7f00:1]')).toEqual(parseIp('127.0.0.1'));
    expect(parseIp('fd00:ec2::254')).toEqual(parseIp('fd00:ec2:0:0:0:0:0:254'));
    expect(parseIp('fe80::1%eth0')).toEqual(parseIp('fe80::1'));
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', 'example.com', '::ffff:1.2.3']) expect(parseIp(bad)).toBeNull();
  });

  it('reads CIDRs and refuses malformed ones', () => {
    expect(parseCidr('10.0.0.0/8')?.prefix).toBe(104);
    expect(parseCidr('fd00::/8')?.prefix).toBe(8);
    expect(parseCidr('1.2.3.4')?.prefix).toBe(128);
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/8/1', 'x/8', '10.0.0.0/-1', '10.0.0.0/']) expect(parseCidr(bad)).toBeNull();
    expect(() => loadConfig({ PUSH_URL_ALLOW_CIDRS: '127.0.0.0/8,nonsense' })).toThrow(/^invalid configuration: PUSH_URL_ALLOW_CIDRS/);
    expect(loadConfig({ PUSH_URL_ALLOW_CIDRS: '127.0.0.0/8, ::1' }).pushUrlAllow).toHaveLength(2);
  });
});

describe('push URL verdicts (no DNS: literal hosts)', () => {
  it.each([
    ['http://127.0.0.1:8000/a', 'loopback'],
    ['http://127.255.255.254/', 'loopback'],
    ['http://[::1]/', 'loopback'],
    ['http://localhost:9000/', 'loopback'],
    ['http://agent.localhost/', 'loopback'],
    ['http://LOCALHOST./', 'loopback'],
    ['http://2130706433/', 'loopback'],
    ['http://0x7f.0.0.1/', 'loopback'],
    ['http://0177.0.0.1/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::ffff:7f00:1]/', 'loopback'],
    ['http://[64:ff9b::7f00:1]/', 'loopback'],
    ['http://[2002:7f00:1::]/', 'loopback'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://[::]/', 'unspecified'],
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://[fd00:ec2::254]/', 'metadata'],
    ['http://[::ffff:169.254.169.254]/', 'metadata'],
    ['http://[::ffff:a9fe:a9fe]/', 'metadata'],
    ['http://2852039166/', 'metadata'],
    ['http://169.254.170.2/v2/credentials', 'metadata'],
    ['http://169.254.1.1/', 'link_local'],
    ['http://[fe80::1]/', 'link_local'],
    ['http://10.1.2.3/', 'private'],
    ['http://172.16.0.1/', 'private'],
    ['http://172.31.255.255/', 'private'],
    ['http://192.168.1.1/', 'private'],
    ['http://[fd12:3456::1]/', 'private'],
    ['http://[fc00::1]/', 'private'],
    ['http://[::ffff:10.0.0.1]/', 'private'],
    ['http://100.64.0.1/', 'shared_address_space'],
    ['http://192.0.2.1/', 'documentation'],
    ['http://198.51.100.7/', 'documentation'],
    ['http://203.0.113.9/', 'documentation'],
    ['http://[2001:db8::1]/', 'documentation'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://[ff02::1]/', 'multicast'],
    ['http://255.255.255.255/', 'reserved'],
    ['http://198.18.0.1/', 'reserved'],
    ['http://[::10.0.0.1]/', 'reserved'],
    ['ftp://8.8.8.8/', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['javascript:alert(1)', 'scheme'],
    ['not a url', 'scheme'],
    ['https://user:pw@8.8.8.8/', 'credentials'],
    ['https://token@8.8.8.8/', 'credentials'],
  ])('%s → %s', async (url, reason) => {
    expect(await check(url, '', noDns)).toBe(reason);
  });

  it.each(['https://8.8.8.8/agent', 'http://1.1.1.1:8080/', 'https://[2606:4700:4700::1111]/', 'http://172.32.0.1/', 'http://100.128.0.1/', 'http://[::ffff:8.8.8.8]/'])(
    'accepts the public address %s',
    async (url) => {
      expect(await check(url, '', noDns)).toBeNull();
    },
  );

  it('PUSH_URL_ALLOW_CIDRS opens exactly the listed ranges, never the metadata service', async () => {
    const allow = '127.0.0.0/8,::1/128,10.0.0.0/8,169.254.0.0/16,fd00::/8';
    for (const url of ['http://127.0.0.1:9000/', 'http://localhost/', 'http://[::1]/', 'http://10.9.9.9/', 'http://169.254.1.1/', 'http://[::ffff:127.0.0.1]/']) {
      expect(await check(url, allow, noDns)).toBeNull();
    }
    expect(await check('http://192.168.0.1/', allow, noDns)).toBe('private');
    expect(await check('http://169.254.169.254/', allow, noDns)).toBe('metadata');
    expect(await check('http://[fd00:ec2::254]/', allow, noDns)).toBe('metadata');
    expect(await check('http://169.254.169.254/', '169.254.169.254/32', noDns)).toBe('metadata');
  });
});

describe('push URL verdicts for names (every resolved address is checked)', () => {
  it('accepts a name whose addresses are all public', async () => {
    expect(await check('https://agent.example.com/x', '', async () => ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'])).toBeNull();
  });

  it('refuses a name with any internal address, and one that does not resolve', async () => {
    expect(await check('https://agent.example.com/', '', async () => ['93.184.215.14', '10.0.0.5'])).toBe('private');
    expect(await check('https://metadata.example.com/', '', async () => ['169.254.169.254'])).toBe('metadata');
    expect(await check('https://v6.example.com/', '', async () => ['::ffff:127.0.0.1'])).toBe('loopback');
    expect(await check('https://nx.example.com/', '', async () => Promise.reject(new Error('ENOTFOUND')))).toBe('unresolvable');
    expect(await check('https://empty.example.com/', '', async () => [])).toBe('unresolvable');
  });

  it('the target is classified before any lookup', () => {
    expect(pushUrlTarget('https://Agent.Example.COM./x')).toEqual({ kind: 'name', host: 'agent.example.com' });
    expect(refusalFor(parseIp('8.8.8.8')!, [])).toBeNull();
  });
});
