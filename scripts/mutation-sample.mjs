// A mutation score per folder from a random sample of its mutants.
//
// Mutating all of src/cache, src/xds, src/translate and src/model is ~8,000 mutants: many hours
// on two cores. A seeded random sample of K mutants per folder estimates each folder's score in a
// fraction of that, and the same seed always picks the same mutants, so a rerun after new tests
// measures the same sample again.
//
//   npm run mutation:sample                         # K=120 per folder, seed 15
//   npm run mutation:sample -- --per-folder 60 --seed 7
//   npm run mutation:sample -- --score              # the table again, from the last run's report
//   npm run mutation:sample -- --collect            # the results of a run stopped early (its recorded events)
//   npm run mutation:sample -- --rerun survived     # only the sample's survivors (after new tests)
//   npm run mutation:sample -- --rerun Pending,NoCoverage --folders src/xds   # by status, in these folders
//   npm run mutation:sample -- --per-folder 200 --continue  # a larger sample, keeping the results so far
//
// Extra arguments after `--stryker` go to `stryker run` (e.g. `--stryker --concurrency 2`).
// The sample and its results are kept in reports/mutation/sample.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Instrumenter } from '@stryker-mutator/instrumenter';
import config from '../stryker.config.mjs';

const SAMPLE_FILE = 'reports/mutation/sample.json';
const REPORT_FILE = 'reports/mutation/mutation.json';
const SPANS_FILE = 'reports/mutation/sample-spans.json';
const KEYS_FILE = 'reports/mutation/sample-keys.json';
const CONFIG_FILE = 'reports/mutation/sample.stryker.config.mjs';
const EVENTS_DIR = 'reports/mutation/events';
const FOLDERS = ['src/cache', 'src/xds', 'src/translate', 'src/model'];

const args = process.argv.slice(2);
const strykerAt = args.indexOf('--stryker');
const own = strykerAt === -1 ? args : args.slice(0, strykerAt);
const strykerArgs = strykerAt === -1 ? [] : args.slice(strykerAt + 1);
const flag = (name, fallback) => {
  const at = own.indexOf(name);
  return at === -1 ? fallback : own[at + 1];
};
const perFolder = Number(flag('--per-folder', '120'));
const seed = Number(flag('--seed', '15'));
const rerun = flag('--rerun', undefined);
const onlyFolders = flag('--folders', undefined)?.split(',');
const startedAt = Date.now();

/** A small seeded generator (mulberry32): the same seed picks the same sample on every machine. */
function random(seedValue) {
  let state = seedValue >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A mutant's identity across runs: file, 1-based start and end, mutator and replacement. */
const keyOf = (file, loc, mutator, replacement) =>
  `${file}:${loc.start.line}:${loc.start.column}-${loc.end.line}:${loc.end.column} ${mutator} ${replacement}`;

/** Every mutant Stryker would make in the folders, with the config's exclusions. */
async function listMutants() {
  const quiet = new Proxy({}, { get: (_, name) => (String(name).startsWith('is') ? () => false : () => undefined) });
  const instrumenter = new Instrumenter(quiet);
  const options = { plugins: null, excludedMutations: [], ignorers: [], noHeader: false };
  const mutants = [];
  for (const folder of FOLDERS) {
    for (const name of readdirSync(folder)
      .filter((f) => f.endsWith('.ts'))
      .sort()) {
      const file = `${folder}/${name}`;
      const { mutants: found } = await instrumenter.instrument(
        [{ name: file, mutate: true, content: readFileSync(file, 'utf8') }],
        options,
      );
      for (const m of found) {
        // Stryker itself marks these Ignored; they are not part of the population.
        if (config.mutator.excludedMutations.includes(m.mutatorName)) continue;
        // The instrumenter's lines are 0-based, the report's 1-based; columns: 0-based, 1-based.
        const loc = {
          start: { line: m.location.start.line + 1, column: m.location.start.column + 1 },
          end: { line: m.location.end.line + 1, column: m.location.end.column + 1 },
        };
        mutants.push({
          folder,
          file,
          loc,
          mutator: m.mutatorName,
          replacement: m.replacement,
          key: keyOf(file, loc, m.mutatorName, m.replacement),
        });
      }
    }
  }
  return mutants;
}

function pickSample(all) {
  const sample = [];
  for (const [index, folder] of FOLDERS.entries()) {
    // One generator per folder: a larger K picks the same first K mutants, and more.
    const next = random(seed * 31 + index);
    const pool = all.filter((m) => m.folder === folder);
    // A partial Fisher-Yates shuffle: the first K of a random order.
    for (let i = 0; i < Math.min(perFolder, pool.length); i++) {
      const j = i + Math.floor(next() * (pool.length - i));
      [pool[i], pool[j]] = [pool[j], pool[i]];
      sample.push({ ...pool[i], status: 'Pending' });
    }
  }
  return sample;
}

/** A sampled mutant's span as Babel gives it: lines 1-based, columns 0-based. */
const spanOf = (m) => ({
  file: m.file,
  start: { line: m.loc.start.line, column: m.loc.start.column - 1 },
  end: { line: m.loc.end.line, column: m.loc.end.column - 1 },
});

/**
 * Runs Stryker on exactly the sampled spans: --mutate ranges pick the spans, and the sample's
 * ignorer (scripts/mutation-sample-ignorer.mjs) leaves out the mutants nested inside them.
 */
function runStryker(mutants) {
  const spans = mutants.map(spanOf);
  const ranges = [...new Set(spans.map((s) => `${s.file}:${s.start.line}:${s.start.column}-${s.end.line}:${s.end.column}`))];
  writeFileSync(SPANS_FILE, JSON.stringify(spans));
  const sampleConfig = {
    ...config,
    mutate: ranges,
    plugins: ['@stryker-mutator/*', path.resolve('scripts/mutation-sample-ignorer.mjs')],
    ignorers: ['mutation-sample'],
    // One file per tested mutant as it is tested, so a run stopped early still tells what it found.
    reporters: [...config.reporters, 'event-recorder'],
    eventReporter: { baseDir: EVENTS_DIR },
  };
  writeFileSync(CONFIG_FILE, `export default ${JSON.stringify(sampleConfig, null, 1)};\n`);
  console.log(`mutation sample: running ${mutants.length} sampled mutants (${ranges.length} spans)`);
  writeFileSync(KEYS_FILE, JSON.stringify(mutants.map((m) => m.key)));
  // The sequencer (scripts/mutation-covering-tests.cjs) runs no tests for a span's other mutants.
  const env = {
    ...process.env,
    MUTATION_SAMPLE_SPANS: path.resolve(SPANS_FILE),
    MUTATION_SAMPLE_KEYS: path.resolve(KEYS_FILE),
    MUTATION_SAMPLE_EVENTS: path.resolve(EVENTS_DIR),
    MUTATION_SAMPLE_ROOT: process.cwd(),
  };
  const result = spawnSync('npx', ['stryker', 'run', CONFIG_FILE, ...strykerArgs], { stdio: 'inherit', env });
  if (result.status !== 0) throw new Error(`stryker run exited with ${result.status}`);
}

/**
 * Copies each sampled mutant's status from Stryker's report (a span can hold mutants not sampled),
 * or, when the run was stopped before its report, from the events it recorded per mutant.
 */
function readResults(sample, onlyKeys) {
  const found = new Map();
  if (existsSync(REPORT_FILE) && statSync(REPORT_FILE).mtimeMs > startedAt) {
    const report = JSON.parse(readFileSync(REPORT_FILE, 'utf8'));
    for (const [file, { mutants }] of Object.entries(report.files)) {
      const rel = path.relative(process.cwd(), path.resolve(file));
      for (const m of mutants) found.set(keyOf(rel, m.location, m.mutatorName, m.replacement), m.status);
    }
  } else if (existsSync(EVENTS_DIR)) {
    for (const name of readdirSync(EVENTS_DIR).filter((f) => f.endsWith('-onMutantTested.json'))) {
      const m = JSON.parse(readFileSync(path.join(EVENTS_DIR, name), 'utf8'));
      // Events carry the report's locations (1-based), as mutation.json does.
      found.set(keyOf(path.relative(process.cwd(), path.resolve(m.fileName)), m.location, m.mutatorName, m.replacement), m.status);
    }
  }
  for (const m of sample) {
    if (onlyKeys && !onlyKeys.has(m.key)) continue;
    const status = found.get(m.key);
    if (status) m.status = status;
  }
}

function printScores(sample) {
  const scored = (s) => ['Killed', 'Timeout', 'Survived', 'NoCoverage'].includes(s);
  const rows = [];
  for (const folder of FOLDERS) {
    const ms = sample.filter((m) => m.folder === folder);
    const count = (s) => ms.filter((m) => m.status === s).length;
    const detected = count('Killed') + count('Timeout');
    const total = ms.filter((m) => scored(m.status)).length;
    const score = total === 0 ? 'n/a' : `${((100 * detected) / total).toFixed(1)} %`;
    rows.push(
      `| ${folder} | ${ms.length} | ${count('Killed')} | ${count('Timeout')} | ${count('Survived')} | ${count('NoCoverage')} | ${ms.length - total - count('Pending')} | ${count('Pending')} | ${score} |`,
    );
  }
  console.log(
    '| folder | sampled | killed | timed out | survived | no coverage | not scored (errors, static, ignored) | not run | score |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
  for (const m of sample.filter((x) => x.status === 'Survived' || x.status === 'NoCoverage'))
    console.log(
      `${m.status.padEnd(10)} ${m.file}:${m.loc.start.line}:${m.loc.start.column} ${m.mutator} -> ${m.replacement.split('\n')[0].slice(0, 80)}`,
    );
}

async function main() {
  mkdirSync('reports/mutation', { recursive: true });
  if (own.includes('--collect')) {
    // A run stopped early: what its events say, into the sample.
    const saved = JSON.parse(readFileSync(SAMPLE_FILE, 'utf8'));
    readResults(saved.sample);
    writeFileSync(SAMPLE_FILE, JSON.stringify(saved, null, 1));
    printScores(saved.sample);
    return;
  }
  if (own.includes('--score')) {
    printScores(JSON.parse(readFileSync(SAMPLE_FILE, 'utf8')).sample);
    return;
  }
  if (rerun) {
    if (!existsSync(SAMPLE_FILE)) throw new Error(`${SAMPLE_FILE} is missing: run the sample first`);
    const saved = JSON.parse(readFileSync(SAMPLE_FILE, 'utf8'));
    const wanted = rerun === 'survived' ? ['Survived', 'NoCoverage'] : rerun.split(',');
    const again = saved.sample.filter((m) => wanted.includes(m.status) && (!onlyFolders || onlyFolders.includes(m.folder)));
    if (again.length === 0) return printScores(saved.sample);
    runStryker(again);
    readResults(saved.sample, new Set(again.map((m) => m.key)));
    writeFileSync(SAMPLE_FILE, JSON.stringify(saved, null, 1));
    printScores(saved.sample);
    return;
  }
  const all = await listMutants();
  const sample = pickSample(all);
  if (own.includes('--continue') && existsSync(SAMPLE_FILE)) {
    // Keep what an earlier run of the same seed found; run only the mutants it did not reach.
    const earlier = new Map(JSON.parse(readFileSync(SAMPLE_FILE, 'utf8')).sample.map((m) => [m.key, m.status]));
    for (const m of sample) m.status = earlier.get(m.key) ?? 'Pending';
  }
  const totals = Object.fromEntries(FOLDERS.map((f) => [f, all.filter((m) => m.folder === f).length]));
  console.log(`mutants per folder (string literals left out): ${JSON.stringify(totals)}; sampling ${perFolder} each, seed ${seed}`);
  writeFileSync(SAMPLE_FILE, JSON.stringify({ seed, perFolder, totals, sample }, null, 1));
  const pending = sample.filter((m) => m.status === 'Pending');
  if (pending.length > 0) {
    runStryker(pending);
    readResults(sample, new Set(pending.map((m) => m.key)));
  }
  writeFileSync(SAMPLE_FILE, JSON.stringify({ seed, perFolder, totals, sample }, null, 1));
  printScores(sample);
}

await main();
