import { imageForRuntime, loadConfig, parseKeyValueList } from '../../config';

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
