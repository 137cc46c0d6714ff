// Replay support. Every integration test that completes a workflow replays its real history against
// the current workflow code; with RECORD_HISTORIES=1 it also saves the history under test/histories/,
// where test/integration/replay.test.ts replays it on every later run (so a change that breaks
// running workflows fails CI).
//
// Histories are stored as the proto package's own JSON object form (longs and enums as strings).
// The SDK's historyToJSON cannot be used here: npm installs two copies of protobufjs (grpc pins v7,
// the SDK nests v8) and its instanceof check fails across them.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import protoRoot = require('@temporalio/proto');
import { testServers } from '../../harness/servers';

export const HISTORIES_DIR = join(__dirname, '..', '..', 'histories');
const History = protoRoot.temporal.api.history.v1.History;
export type HistoryMessage = ReturnType<typeof History.fromObject>;

/** The workflow id is kept beside the history: workflows may derive ids (e.g. of children) from it. */
export function historyToText(workflowId: string, history: unknown): string {
  const message = History.fromObject(history as Record<string, unknown>);
  return JSON.stringify({ workflowId, history: History.toObject(message, { longs: String, enums: String, bytes: String }) }, null, 1);
}

export function readHistory(file: string): { workflowId: string; history: HistoryMessage } {
  const stored = JSON.parse(readFileSync(file, 'utf8')) as { workflowId: string; history: Record<string, unknown> };
  return { workflowId: stored.workflowId, history: History.fromObject(stored.history) };
}

export async function replayAndMaybeRecord(temporal: Client, workflowId: string, runId: string | undefined, name: string): Promise<void> {
  const history = await temporal.workflow.getHandle(workflowId, runId).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: { codePath: testServers().workflowBundlePath } }, history, workflowId);
  if (process.env.RECORD_HISTORIES === '1') {
    mkdirSync(HISTORIES_DIR, { recursive: true });
    writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToText(workflowId, history));
  }
}
