// Problems as text for people: grouped by file, each starting with `file:line:` (editors and
// terminals jump to it), then severity, code, message, and the fix on the next line.
import type { Problem, Severity } from './problem.js';

function formatProblem(problem: Problem): string {
  const where = problem.file ? `${problem.file}${problem.line !== undefined ? `:${problem.line}` : ''}: ` : '';
  return `${where}${problem.severity} ${problem.code}: ${problem.message}\n    fix: ${problem.fix}`;
}

/** Every problem, one block per file (in the order given), problems without a file last. */
export function formatProblems(problems: readonly Problem[]): string {
  const groups = new Map<string, Problem[]>();
  for (const problem of problems) {
    const file = problem.file ?? '';
    let group = groups.get(file);
    if (!group) groups.set(file, (group = []));
    group.push(problem);
  }
  const blocks: string[] = [];
  for (const [file, group] of [...groups].sort(([a], [b]) => (a === '' ? 1 : b === '' ? -1 : 0))) {
    const heading = file === '' ? 'objects without a file' : file;
    blocks.push(`${heading} (${countText(group)})\n${group.map(formatProblem).join('\n')}\n`);
  }
  return blocks.join('\n');
}

export function countBySeverity(problems: readonly Problem[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const problem of problems) counts[problem.severity]++;
  return counts;
}

/** `2 errors, 1 warning`; notes (info) last. */
export function countText(problems: readonly Problem[]): string {
  const counts = countBySeverity(problems);
  const parts: string[] = [];
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (counts.error) parts.push(plural(counts.error, 'error'));
  if (counts.warning) parts.push(plural(counts.warning, 'warning'));
  if (counts.info) parts.push(plural(counts.info, 'note'));
  return parts.join(', ') || 'no problems';
}
