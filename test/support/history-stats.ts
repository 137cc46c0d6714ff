// Size figures of a workflow history: its event count and, per event, the bytes of every payload it
// carries (activity input/result, child input/result, workflow input/result, continue-as-new input,
// local-activity markers, signals, memo). Temporal rejects a payload over its blob limit and a history
// over its event limit, so the scale tests and the B6 bench hold these below fixed bounds.
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

export interface HistoryStats {
  events: number;
  /** The largest sum of payload data bytes within one event. */
  maxEventPayloadBytes: number;
  /** Which event type that was (e.g. 'activityTaskCompletedEventAttributes'). */
  maxEventKind: string;
}

function payloadBytes(value: unknown, depth = 0): number {
  if (value === null || typeof value !== 'object' || depth > 8) return 0;
  if (value instanceof Uint8Array) return 0;
  const maybe = value as { data?: unknown; metadata?: unknown };
  if (maybe.data instanceof Uint8Array && maybe.metadata !== undefined) return maybe.data.byteLength;
  let sum = 0;
  for (const v of Object.values(value as Record<string, unknown>)) sum += payloadBytes(v, depth + 1);
  return sum;
}

export function historyStats(history: History): HistoryStats {
  const events = history.events ?? [];
  let max = 0;
  let kind = '';
  for (const event of events) {
    for (const [key, attrs] of Object.entries(event)) {
      if (!key.endsWith('EventAttributes') || !attrs) continue;
      const bytes = payloadBytes(attrs);
      if (bytes > max) {
        max = bytes;
        kind = key;
      }
    }
  }
  return { events: events.length, maxEventPayloadBytes: max, maxEventKind: kind };
}
