// The analysis: every configuration problem as data (see docs/problems.md for the codes).
import { loadManifestDir } from '../sources/files.js';
import { MeshModel } from '../model/index.js';
import { analyze, type AnalysisSettings } from './analyze.js';
import { SourceRecords } from './records.js';
import type { Problem } from './problem.js';

export { Analysis, analyze, scaleTo100, type AnalysisSettings } from './analyze.js';
export { PROBLEM_CODES } from './codes.js';
export { formatProblems, countBySeverity, countText } from './format.js';
export { SourceRecords } from './records.js';
export { ProblemTracker } from './tracker.js';
export type { Problem } from './problem.js';

interface FolderAnalysis {
  /** The model built from the folder's valid objects, as `serve` would build it. */
  model: MeshModel;
  problems: Problem[];
  /** Where each object is written, and the rejected ones. */
  records: SourceRecords;
  /** Objects read (valid or rejected). */
  objects: number;
}

/** Reads a folder once and analyses it: what `validate` and `render` report. */
export async function analyzeManifestDir(dir: string, options: AnalysisSettings = {}): Promise<FolderAnalysis> {
  const { events, problems: sourceProblems } = await loadManifestDir(dir);
  const model = new MeshModel({ defaultMtls: options.mtlsMode });
  model.apply(events);
  const records = new SourceRecords();
  records.apply(events);
  return { model, records, problems: analyze({ model, records, sourceProblems, options }), objects: events.length };
}
