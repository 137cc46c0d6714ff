import { imageForRuntime, loadConfig, parseKeyValueList } from '../../config';
import { temporalConnectionOptions, temporalTls } from '../../config/temporal-tls';

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
