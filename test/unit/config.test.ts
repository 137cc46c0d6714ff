import { imageForRuntime, loadConfig, parseKeyValueList } from '../../config';
import { temporalConnectionOptions, temporalTls } from '../../config/temporal-tls';
import { containerLimitsFor, DEFAULT_CONTAINER_LIMITS } from '../../config/container-limits';

describe('loadConfig', () => {
  it('has sane defaults for every variable', () => {
    const c = loadConfig({});
    expect(c.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/molecule');
    expect(c.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(c.TASK_QUEUE).toBe('workspace-lifecycle');
    expect(c.API_PORT).toBe(8080);
    expect(c.PROVISION_TIMEOUT_SECONDS).toBeUndefined();
    expect([...c.computeProviders]).toEqual(['docker']);
  });

  it('rejects bad values with the field name and no value', () => {
    expect(() => loadConfig({ API_PORT: '99999' })).toThrow(/API_PORT/);
    expect(() => loadConfig({ PROVISION_TIMEOUT_SECONDS: 'soon' })).toThrow(/PROVISION_TIMEOUT_SECONDS/);
    expect(() => loadConfig({ COMPUTE_PROVIDERS: 'docker,gcp' })).toThrow(/COMPUTE_PROVIDERS/);
  });

  it('parses providers and k=v lists', () => {
    expect([...loadConfig({ COMPUTE_PROVIDERS: 'docker, ec2' }).computeProviders]).toEqual(['docker', 'ec2']);
    expect(parseKeyValueList('a=1, b=x=y')).toEqual({ a: '1', b: 'x=y' });
    expect(() => parseKeyValueList('novalue')).toThrow();
  });

  it('picks an image per runtime with a fallback', () => {
    const c = loadConfig({ WORKSPACE_IMAGE: 'img:default' });
    expect(imageForRuntime(c, 'claude-code', { WORKSPACE_IMAGE_CLAUDE_CODE: 'img:cc' })).toBe('img:cc');
    expect(imageForRuntime(c, 'hermes', {})).toBe('img:default');
  });
});

describe('temporalTls (TEMPORAL_TLS_*)', () => {
  const files: Record<string, string> = { '/tls/client.pem': 'CERT', '/tls/client.key': 'KEY', '/tls/ca.pem': 'CA' };
  const readFile = (path: string): Buffer => {
    if (!(path in files)) throw new Error(`ENOENT ${path}`);
    return Buffer.from(files[path]);
  };
  const tls = (env: NodeJS.ProcessEnv) => temporalTls(loadConfig(env), readFile);

  it('is off (plaintext) when nothing is set', () => {
    expect(tls({})).toBeUndefined();
    expect(temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233' }))).toEqual({ address: 'temporal:7233' });
  });

  it('reads the client pair, the CA and the server name', () => {
    expect(tls({ TEMPORAL_TLS_CERT: '/tls/client.pem', TEMPORAL_TLS_KEY: '/tls/client.key', TEMPORAL_TLS_CA: '/tls/ca.pem', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' })).toEqual({
      clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') },
      serverRootCACertificate: Buffer.from('CA'),
      serverNameOverride: 'temporal.internal',
    });
    // Server-only TLS (a CA, no client certificate) is allowed.
    expect(tls({ TEMPORAL_TLS_CA: '/tls/ca.pem' })).toEqual({ serverRootCACertificate: Buffer.from('CA') });
  });

  it('refuses half a client pair and unreadable files, naming the variable only', () => {
    expect(() => tls({ TEMPORAL_TLS_CERT: '/tls/client.pem' })).toThrow(/TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/);
    expect(() => tls({ TEMPORAL_TLS_KEY: '/tls/client.key' })).toThrow(/TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/);
    expect(() => tls({ TEMPORAL_TLS_CA: '/tls/missing.pem' })).toThrow(/^invalid configuration: TEMPORAL_TLS_CA: file cannot be read$/);
  });
});

describe('container limits (CONTAINER_MEMORY_MB, CONTAINER_PIDS_LIMIT, CONTAINER_CPUS, per runtime)', () => {
  it('have defaults', () => {
    expect(containerLimitsFor(loadConfig({}).containerLimits, 'claude-code')).toEqual(DEFAULT_CONTAINER_LIMITS);
    expect(DEFAULT_CONTAINER_LIMITS).toEqual({ memoryMb: 2048, pidsLimit: 512, cpus: 2 });
  });

  it('a per-runtime override (dashes as underscores) replaces only the fields it sets', () => {
    const c = loadConfig({ CONTAINER_MEMORY_MB: '1024', CONTAINER_CPUS: '1.5', CONTAINER_MEMORY_MB_CLAUDE_CODE: '4096', CONTAINER_PIDS_LIMIT_HERMES: '64' });
    expect(containerLimitsFor(c.containerLimits, 'claude-code')).toEqual({ memoryMb: 4096, pidsLimit: 512, cpus: 1.5 });
    expect(containerLimitsFor(c.containerLimits, 'hermes')).toEqual({ memoryMb: 1024, pidsLimit: 64, cpus: 1.5 });
    expect(containerLimitsFor(c.containerLimits, 'codex')).toEqual({ memoryMb: 1024, pidsLimit: 512, cpus: 1.5 });
  });

  it.each([
    ['CONTAINER_MEMORY_MB', '1.5'],
    ['CONTAINER_MEMORY_MB', '8'],
    ['CONTAINER_MEMORY_MB', '-1'],
    ['CONTAINER_PIDS_LIMIT', 'lots'],
    ['CONTAINER_CPUS', '0'],
    ['CONTAINER_CPUS', '1e3'],
    ['CONTAINER_CPUS_HERMES', 'x'],
    ['CONTAINER_MEMORY_MB_claude-code', '512'],
  ])('refuses %s=%s at start, naming the variable', (key, value) => {
    expect(() => loadConfig({ [key]: value })).toThrow(new RegExp(`^invalid configuration: ${key.replace(/[-_]claude-code$/, '')}`));
  });
});
