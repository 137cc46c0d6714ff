// signalRestart is the one door into a workspace's restart workflow: whatever row a caller hands in as
// the label, only its name, runtime and compute reach the workflow input (and so the history).
import type { Client } from '@temporalio/client';
import { signalRestart } from '../../activities/restart-requests';

describe('signalRestart', () => {
  it('puts only the label fields of a wider row into the workflow input', async () => {
    const calls: Array<{ args: unknown[] }> = [];
    const client = {
      workflow: {
        signalWithStart: async (_type: string, options: { args: unknown[] }) => {
          calls.push(options);
          return { signaledRunId: 'run-1' };
        },
      },
    } as unknown as Client;
    const row = { name: 'ws', runtime: 'claude-code', compute: 'docker', platform_inbound_secret: 'sealed:abc', token_hash: 'h' };
    await signalRestart(client, 'q', '00000000-0000-0000-0000-000000000001', { rebuildConfig: false }, row);
    expect(calls[0].args).toEqual([{ workspaceId: '00000000-0000-0000-0000-000000000001', workspace: { name: 'ws', runtime: 'claude-code', compute: 'docker' } }]);
  });
});
