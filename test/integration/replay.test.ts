// Replays recorded histories of every workflow type against the current workflow code. A
// nondeterministic change (reordered activities, a removed timer, a new activity without patched())
// fails here before it can break workflows running in production.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import * as workflows from '../../workflows';
import { testServers } from '../harness/servers';
import { readHistory } from '../../worker/history-file';
import { HISTORIES_DIR } from './support/histories';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json')).sort();
const histories = files.map((f) => readHistory(join(HISTORIES_DIR, f)));

describe('replay of recorded histories', () => {
  it('has at least one recorded history for every workflow type', () => {
    const recorded = new Set(histories.map((h) => h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name));
    for (const type of Object.keys(workflows)) expect(recorded).toContain(type);
  });

  it('replays every recorded history without nondeterminism', async () => {
    expect(histories.length).toBeGreaterThan(0);
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: testServers().workflowBundlePath } }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });
});
