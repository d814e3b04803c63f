// A Jest test sequencer for mutation runs: a mutant runs only the test files that hold a test
// covering it.
//
// Stryker already narrows each mutant to its covering tests, but by name (`testNamePattern`):
// Jest still loads every test file related to the mutated module (60–75 here, each importing the
// Envoy protos) to find the names. That was ~95% of a mutant's cost. The tests that run are the
// same; only the files that would have run none of them are left out.
//
// How: the dry run (no active mutant) records which files held the tests that covered each
// mutant, in a file Stryker's other test-runner processes read (they are children of the same
// Stryker process). A mutant with nothing recorded runs every file, as before.
//
// In a sampled run (scripts/mutation-sample.mjs), a mutant that shares its span with a sampled
// one but is not itself in the sample runs no tests: Stryker cannot mutate one node with some
// mutators and not others, and those results are not read. Stryker's own report shows them as
// survived; the sample's table is the one to read.
const { existsSync, readFileSync, readdirSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const ACTIVE_MUTANT = '__STRYKER_ACTIVE_MUTANT__';
const mapFile = path.join(os.tmpdir(), `switchyard-mutation-covering-files-${process.ppid}.json`);

/** Stryker's shared state in this process: the coverage each test recorded in the dry run. */
function strykerCoverage() {
  const runnerDir = path.dirname(require.resolve('@stryker-mutator/jest-runner/package.json'));
  const { state } = require(path.join(runnerDir, 'dist/src/jest-plugins/messaging.cjs'));
  return state.instrumenterContext?.mutantCoverage?.perTest;
}

let filesByMutant;
let sampleKeys;
let planKeys;

/** False for a mutant Stryker planned that is not in the mutation sample (when there is one). */
function inSample(mutant) {
  const { MUTATION_SAMPLE_KEYS: keysFile, MUTATION_SAMPLE_EVENTS: eventsDir, MUTATION_SAMPLE_ROOT: root } = process.env;
  if (!keysFile || !eventsDir || !root) return true;
  sampleKeys ??= new Set(JSON.parse(readFileSync(keysFile, 'utf8')));
  if (!planKeys) {
    // The event recorder's plan file: every mutant's id, span, mutator and replacement.
    const planFile = readdirSync(eventsDir).find((name) => name.endsWith('-onMutationTestingPlanReady.json'));
    if (!planFile) return true;
    planKeys = new Map();
    for (const { mutant: m } of JSON.parse(readFileSync(path.join(eventsDir, planFile), 'utf8')).mutantPlans) {
      // The plan's lines and columns are 0-based; the sample's keys 1-based, as Stryker's report.
      const at = (p) => `${p.line + 1}:${p.column + 1}`;
      const file = path.relative(root, m.fileName);
      planKeys.set(m.id, `${file}:${at(m.location.start)}-${at(m.location.end)} ${m.mutatorName} ${m.replacement}`);
    }
  }
  const key = planKeys.get(mutant);
  return key === undefined || sampleKeys.has(key);
}

function coveringFiles(mutant) {
  if (!filesByMutant && existsSync(mapFile)) filesByMutant = JSON.parse(readFileSync(mapFile, 'utf8'));
  return filesByMutant?.[mutant];
}

class CoveringTestsSequencer extends Sequencer {
  sort(tests) {
    const mutant = process.env[ACTIVE_MUTANT];
    if (mutant !== undefined && !inSample(mutant)) return [];
    const files = mutant === undefined ? undefined : coveringFiles(mutant);
    if (!files || files.length === 0) return super.sort(tests);
    const wanted = new Set(files);
    return super.sort(tests.filter((test) => wanted.has(test.path)));
  }

  cacheResults(tests, results) {
    super.cacheResults(tests, results);
    const perTest = process.env[ACTIVE_MUTANT] === undefined ? strykerCoverage() : undefined;
    if (!perTest) return;
    // Stryker names a test by its full name; two files may hold tests of the same name.
    const filesOfTest = new Map();
    for (const file of results.testResults) {
      for (const { fullName } of file.testResults) {
        if (!filesOfTest.has(fullName)) filesOfTest.set(fullName, new Set());
        filesOfTest.get(fullName).add(file.testFilePath);
      }
    }
    const map = {};
    for (const [testId, mutants] of Object.entries(perTest)) {
      const files = filesOfTest.get(testId);
      for (const mutant of Object.keys(mutants)) {
        // A test the results do not name: no narrowing for its mutants (they run every file).
        if (files === undefined) map[mutant] = null;
        else if (map[mutant] !== null) map[mutant] = [...new Set([...(map[mutant] ?? []), ...files])];
      }
    }
    writeFileSync(mapFile, JSON.stringify(map));
    filesByMutant = map;
  }
}

module.exports = CoveringTestsSequencer;
