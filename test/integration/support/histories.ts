// Replay support. Every integration test that completes a workflow replays its real history against
// the current workflow code; with RECORD_HISTORIES=1 it also saves the history under test/histories/,
// where test/integration/replay.test.ts replays it on every later run (so a change that breaks
// running workflows fails CI).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { historyToText } from '../../../worker/history-file';
import { testServers } from '../../harness/servers';

export const HISTORIES_DIR = join(__dirname, '..', '..', 'histories');

export async function replayAndMaybeRecord(temporal: Client, workflowId: string, runId: string | undefined, name: string): Promise<void> {
  const history = await temporal.workflow.getHandle(workflowId, runId).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: { codePath: testServers().workflowBundlePath } }, history, workflowId);
  if (process.env.RECORD_HISTORIES === '1') {
    mkdirSync(HISTORIES_DIR, { recursive: true });
    writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToText(workflowId, history));
  }
}
