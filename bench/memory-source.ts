// A Source held in memory and driven by the bench runner: the initial mesh on start, then
// whatever events the runner sends (endpoint changes, bursts).
import type { EventSink, Source, SourceEvent } from '../src/sources/types.js';

export class MemorySource implements Source {
  private sink: EventSink | undefined;

  constructor(private readonly initial: SourceEvent[]) {}

  async start(sink: EventSink): Promise<void> {
    this.sink = sink;
    if (this.initial.length) sink(this.initial);
  }

  async stop(): Promise<void> {
    this.sink = undefined;
  }

  /** Delivers events as a watch would; fails if the source has not been started. */
  emit(events: SourceEvent[]): void {
    if (!this.sink) throw new Error('MemorySource.emit: the source is not started (or was stopped)');
    this.sink(events);
  }
}
