// Where a change's time goes between its source and the streams (a debug aid): with
// SWITCHYARD_PUSH_TRACE=<file>, every change appends one JSON line to the file with the
// milliseconds from the source noticing it (a file event, a watch event) to each later stage.
// Off by default: then `mark` returns at its first test.
import { createWriteStream, type WriteStream } from 'node:fs';

/** The stages of one change, in the order they happen. */
export type PushStage =
  | 'source' // the source noticed the change (fs.watch callback, Kubernetes watch event)
  | 'delivered' // the source handed its events to the pipeline
  | 'flush' // the pipeline's flush began
  | 'model' // the model applied the events
  | 'translated' // the touched resources were translated
  | 'cached' // the cache encoded and stored them and began notifying the streams
  | 'firstWrite' // the first response was written to a stream
  | 'lastWrite' // the last stream was written (the cache's notification ended)
  | 'flushed'; // the pipeline's flush ended

const file = process.env.SWITCHYARD_PUSH_TRACE || undefined;

interface Trace {
  /** Epoch milliseconds when the source noticed the change. */
  at: number;
  start: number;
  stages: Partial<Record<PushStage, number>>;
  written: boolean;
}

let current: Trace | undefined;
/** One stream for the file, so lines land in the order they are written (separate appends may not). */
let out: WriteStream | undefined;
let failed = false;

function write(trace: Trace): void {
  if (trace.written || file === undefined || failed) return;
  trace.written = true;
  if (!out) {
    out = createWriteStream(file, { flags: 'a' });
    // A debug aid: a file that cannot be written turns the trace off, it does not end the server.
    out.on('error', () => (failed = true));
  }
  out.write(JSON.stringify({ at: trace.at, ...trace.stages }) + '\n');
}

/** Whether tracing is on (SWITCHYARD_PUSH_TRACE names a file). */
export const pushTraceEnabled = file !== undefined;

/**
 * Records a stage of the change in flight, the first time it is reached. A `source` mark starts a
 * new change once the previous one has been flushed; while one is in flight, further source
 * events join it (a burst is one change). The line is written when the next change starts, or a
 * second after the flush. `now`: when the stage was reached, if earlier than the call (a source
 * that learns only after reading an event whether it changes anything).
 */
export function markPush(stage: PushStage, now = performance.now()): void {
  if (file === undefined) return;
  if (stage === 'source') {
    if (current && current.stages.flushed === undefined) return;
    if (current) write(current);
    current = { at: performance.timeOrigin + now, start: now, stages: {}, written: false };
    return;
  }
  if (!current || current.stages[stage] !== undefined) return;
  current.stages[stage] = Math.round((now - current.start) * 100) / 100;
  if (stage === 'flushed') {
    const trace = current;
    setTimeout(() => write(trace), 1000).unref();
  }
}
