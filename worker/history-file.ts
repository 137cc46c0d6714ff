// The on-disk format of recorded workflow histories (test/histories/*.json and `npm run replay --save`):
// { workflowId, history } with the history in the proto package's own JSON object form. The SDK's
// historyToJSON cannot be used: npm installs two copies of protobufjs (grpc pins v7, the SDK nests v8)
// and its instanceof check fails across them.
import { readFileSync } from 'node:fs';
import protoRoot = require('@temporalio/proto');

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
