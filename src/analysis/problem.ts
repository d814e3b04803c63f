// A problem with the user's configuration, as data. Every surface — `validate`, `serve`'s logs,
// `/debug/problems`, the `switchyard_config_problems` gauge, `render`'s stderr, TrafficPolicy
// conditions and Kubernetes Events — shows the same Problem objects, produced by one analysis.

export type Severity = 'error' | 'warning' | 'info';

export interface ProblemObject {
  kind: string;
  namespace?: string;
  name: string;
}

export interface Problem {
  /** Stable and documented (docs/problems.md): scripts and alerts may match on it. */
  code: string;
  severity: Severity;
  object: ProblemObject;
  /** The field at fault, as a path into the object: `spec.rules[0].http.paths[1].backend.service.port`. */
  field?: string;
  /** Where the field is written (folder mode); absent for objects from the API server. */
  file?: string;
  line?: number;
  /** What is wrong, naming the object and the field. */
  message: string;
  /** How to fix it. */
  fix: string;
}

/** Identity of a problem: the same problem found again is not new (logged once when it appears, once when fixed). */
export function problemKey(p: Problem): string {
  const o = p.object;
  return `${p.code}|${o.kind}|${o.namespace ?? ''}|${o.name}|${p.field ?? ''}|${p.message}`;
}
