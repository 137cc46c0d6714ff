// `npm run replay -- <workflowId> [--run <runId>] [--save <file>]` or `npm run replay -- --file <file>`
// Downloads a workflow's history from Temporal (or reads a saved one) and replays it against the
// CURRENT workflow code.
// Exit 0: deterministic. Exit 1: nondeterminism (the message says which command diverged) or an error.
// --save writes the history in test/histories' format, so it can join the replay suite in CI.
import { writeFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { ReplayError, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { loadConfig } from '../config';
import { temporalConnectionOptions } from '../config/temporal-tls';
import { historyToText, readHistory } from '../worker/history-file';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function replay(workflowId: string, history: Parameters<typeof Worker.runReplayHistory>[1], events: number, saved?: string): Promise<number> {
  try {
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../workflows') }, history, workflowId);
  } catch (err) {
    if (err instanceof DeterminismViolationError || err instanceof ReplayError) {
      console.error(`NONDETERMINISTIC: ${workflowId} (${events} events) does not replay on the current code:\n  ${err.message}`);
      return 1;
    }
    throw err;
  }
  console.log(`OK: ${workflowId} replayed ${events} events on the current workflow code${saved ? `; saved to ${saved}` : ''}`);
  return 0;
}

async function main(): Promise<number> {
  const file = arg('--file');
  if (file) {
    const stored = readHistory(file);
    return replay(stored.workflowId, stored.history, stored.history.events?.length ?? 0);
  }
  const workflowId = process.argv.slice(2).find((a, i, all) => !a.startsWith('--') && !['--run', '--save'].includes(all[i - 1] ?? ''));
  if (!workflowId) {
    console.error('usage: npm run replay -- <workflowId> [--run <runId>] [--save <file>] | --file <file>');
    return 2;
  }
  const config = loadConfig();
  const connection = await Connection.connect(temporalConnectionOptions(config));
  try {
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    const history = await client.workflow.getHandle(workflowId, arg('--run')).fetchHistory();
    const save = arg('--save');
    if (save) writeFileSync(save, historyToText(workflowId, history));
    return await replay(workflowId, history, history.events?.length ?? 0, save);
  } finally {
    await connection.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`replay failed: ${err.message}`);
    process.exit(1);
  },
);
