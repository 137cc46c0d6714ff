import { ec2ClientToken, ec2UserData } from '../../activities/ec2-launch-data';
import { seededRandom } from '../support/seeded-random';

const base = { platformUrl: 'https://platform.example', workspaceId: '6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f', credential: 'molb_abcdefghijklmnop' };

describe('ec2UserData (#14.3)', () => {
  it('holds the platform URL, the workspace id and the bootstrap credential, in a quoted heredoc', () => {
    const script = ec2UserData(base);
    expect(script).toContain("cat > /configs/bootstrap.env <<'MOLECULE_BOOTSTRAP'");
    expect(script.split('\n')).toEqual(expect.arrayContaining([`PLATFORM_URL=${base.platformUrl}`, `WORKSPACE_ID=${base.workspaceId}`, `BOOTSTRAP_CREDENTIAL=${base.credential}`]));
    expect(script).toContain('umask 077');
  });

  it('refuses any value that could end the heredoc or reach a shell (fuzzed)', () => {
    const rnd = seededRandom(0xec2);
    const hostile = ['\n', '\r', ' ', '\t', '\u0000', '\u2028', 'é', '\nMOLECULE_BOOTSTRAP\nrm -rf /\n'];
    for (let i = 0; i < 500; i++) {
      const field = (['platformUrl', 'workspaceId', 'credential'] as const)[Math.floor(rnd() * 3)];
      const bad = `${base[field]}${hostile[Math.floor(rnd() * hostile.length)]}x`;
      expect(() => ec2UserData({ ...base, [field]: bad })).toThrow('not printable ASCII');
    }
    expect(() => ec2UserData({ ...base, credential: '' })).toThrow();
    expect(() => ec2UserData({ ...base, platformUrl: 'x'.repeat(3000) })).toThrow();
  });

  it('the client token is stable per run and bounded', () => {
    expect(ec2ClientToken('w', 'r1')).toBe(ec2ClientToken('w', 'r1'));
    expect(ec2ClientToken('w', 'r1')).not.toBe(ec2ClientToken('w', 'r2'));
    expect(ec2ClientToken('w', 'r1').length).toBeLessThanOrEqual(64);
  });
});
