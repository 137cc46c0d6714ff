// docker-compose.yml cannot run here (no engine), so it is kept honest: valid for docker-compose,
// the same entry points as `npm run dev`, and only variables the config actually reads.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_KEYS } from '../../config';

const ROOT = join(__dirname, '..', '..');
const COMPOSE = join(ROOT, 'docker-compose.yml');

interface Service {
  command?: string[];
  environment?: Record<string, string>;
}

describe('docker-compose.yml', () => {
  const doc = parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as { services: Record<string, Service> };

  it('is valid for docker-compose (config -q)', () => {
    if (!existsSync('/usr/bin/docker-compose')) throw new Error('docker-compose is not installed: run `npm run setup`');
    execFileSync('/usr/bin/docker-compose', ['-f', COMPOSE, 'config', '-q'], {
      cwd: ROOT,
      env: { ...process.env, ADMIN_TOKEN: 'x', SECRETS_KEY: 'y' },
      stdio: 'pipe',
    });
  });

  it('names every service the dev stack runs', () => {
    expect(Object.keys(doc.services)).toEqual(expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', 'api', 'worker']));
  });

  it('runs the same entry points as the dev stack', () => {
    const dev = readFileSync(join(ROOT, 'scripts', 'dev.sh'), 'utf8');
    expect(doc.services.api.command).toEqual(['npx', 'tsx', 'api/main.ts']);
    expect(doc.services.worker.command).toEqual(['npx', 'tsx', 'worker/main.ts']);
    expect(dev).toContain('npx tsx api/main.ts');
    expect(dev).toContain('npx tsx worker/main.ts');
  });

  it('sets only variables the config reads', () => {
    for (const name of ['api', 'worker']) {
      for (const key of Object.keys(doc.services[name].environment ?? {})) expect(CONFIG_KEYS).toContain(key);
    }
  });

  it('the README lists every config variable', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const key of CONFIG_KEYS) expect(readme).toContain(`\`${key}\``);
  });
});
