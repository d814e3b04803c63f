// A Stryker ignorer for `npm run mutation:sample`: the sample's spans are passed as --mutate
// ranges, which also take in every mutant nested inside a sampled span (a block's whole body).
// This leaves out any node that holds no sampled span, so only the sampled nodes' own mutants
// (and those of sampled nodes within them) are run.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

/** file (relative) -> spans, lines 1-based, columns 0-based (Babel's own `loc`). */
const spans = new Map();
for (const span of JSON.parse(readFileSync(process.env.MUTATION_SAMPLE_SPANS, 'utf8'))) {
  if (!spans.has(span.file)) spans.set(span.file, []);
  spans.get(span.file).push(span);
}

const before = (a, b) => a.line < b.line || (a.line === b.line && a.column <= b.column);

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'mutation-sample', {
    shouldIgnore(nodePath) {
      const loc = nodePath.node.loc;
      if (!loc) return undefined;
      const file = path.relative(process.cwd(), nodePath.hub.file.opts.filename);
      const inside = (spans.get(file) ?? []).some((s) => before(loc.start, s.start) && before(s.end, loc.end));
      return inside ? undefined : 'not in the mutation sample';
    },
  }),
];
