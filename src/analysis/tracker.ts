// The current problems of a running control plane. Each analysis result replaces the last; a
// problem is logged once when it appears and once when it is gone, and listeners (the metrics,
// the Kubernetes Event writer) hear exactly what was added and what was removed.
import { EventEmitter } from 'node:events';
import { log } from '../log.js';
import { problemKey, type Problem } from './problem.js';

interface ProblemTrackerEvents {
  /** After an update that changed the set: problems new since the last update, and those fixed. */
  problemsChanged: [added: Problem[], removed: Problem[]];
}

export class ProblemTracker extends EventEmitter<ProblemTrackerEvents> {
  private current = new Map<string, Problem>();

  /** Every current problem, in the analysis's order (file, line, code). */
  problems(): Problem[] {
    return [...this.current.values()];
  }

  /** `problemsChanged` as a subscription (the Kubernetes Event recorder's ProblemFeed); returns the unsubscribe. */
  onProblems(listener: (added: Problem[], removed: Problem[]) => void): () => void {
    this.on('problemsChanged', listener);
    return () => this.off('problemsChanged', listener);
  }

  /** Replaces the current problems with a new analysis result; returns what changed. */
  update(problems: readonly Problem[]): { added: Problem[]; removed: Problem[] } {
    const next = new Map<string, Problem>();
    for (const problem of problems) next.set(problemKey(problem), problem);
    const added = [...next].filter(([key]) => !this.current.has(key)).map(([, p]) => p);
    const removed = [...this.current].filter(([key]) => !next.has(key)).map(([, p]) => p);
    this.current = next;
    for (const problem of removed) {
      log.info(`configuration problem fixed: ${problem.code}`, logFields(problem));
    }
    for (const problem of added) {
      const fields = { ...logFields(problem), fix: problem.fix };
      if (problem.severity === 'info') log.info(`configuration note: ${problem.code}`, fields);
      else log.warn(`configuration ${problem.severity}: ${problem.code}`, fields);
    }
    if (added.length > 0 || removed.length > 0) this.emit('problemsChanged', added, removed);
    return { added, removed };
  }
}

function logFields(problem: Problem): Record<string, unknown> {
  const o = problem.object;
  return {
    object: o.namespace ? `${o.kind} ${o.namespace}/${o.name}` : `${o.kind} ${o.name}`,
    ...(problem.field ? { field: problem.field } : {}),
    ...(problem.file ? { file: problem.file, line: problem.line } : {}),
    problem: problem.message,
  };
}
