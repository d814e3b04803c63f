// The bench runner: `node dist/bench/run.js <scenario> [flags]`. It starts the server under
// test (Switchyard, the floor, or an external ADS server), drives changes into it, runs the
// load generator, and prints a table of figures (also written as JSON to bench/results/).
// It asserts nothing: targets are printed beside the figures.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseFlags, type Flags, type Scenario } from './flags.js';
import { formatTable, type Row } from './report.js';
import { runBurst } from './scenarios/burst.js';
import { runCapacity } from './scenarios/capacity.js';
import { runChurn } from './scenarios/churn.js';
import { runInitialSync } from './scenarios/initial-sync.js';
import { runMemory } from './scenarios/memory.js';
import { runRest } from './scenarios/rest.js';
import { runSoak } from './scenarios/soak.js';
import { runTranslate } from './scenarios/translate.js';
import { runScope } from './scenarios/scope.js';

export async function run(
  flags: Flags,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<{ rows: Row[]; file: string }> {
  const runners: Record<Scenario, typeof runChurn> = {
    translate: runTranslate,
    'initial-sync': runInitialSync,
    'endpoint-churn': runChurn,
    'sotw-churn': runChurn,
    memory: runMemory,
    burst: runBurst,
    soak: runSoak,
    rest: runRest,
    capacity: runCapacity,
    scope: runScope,
  };
  const startedAt = new Date();
  const { rows, figures } = await runners[flags.scenario](flags, log);
  const machine = {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    totalMemory: os.totalmem(),
  };
  mkdirSync(flags.out, { recursive: true });
  const file = path.join(flags.out, `${flags.scenario}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ scenario: flags.scenario, startedAt: startedAt.toISOString(), machine, flags, rows, figures }, null, 2),
  );
  return { rows, file };
}

async function main(): Promise<void> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  const target = flags.target ?? flags.server;
  process.stdout.write(
    `${flags.scenario}: S=${flags.services} E=${flags.endpoints} N=${flags.scenario === 'capacity' ? flags.clientsList.join(',') : flags.clients} delta-share=${flags.deltaShare}` +
      `${flags.scenario.endsWith('churn') || flags.scenario === 'capacity' ? ` changes=${flags.changes}` : ''} against ${target}` +
      `${flags.source !== 'memory' && !flags.target ? ` (switchyard serve, ${flags.source} source)` : ''}; ` +
      `${os.cpus().length} cores, Node ${process.version}\n`,
  );
  const { rows, file } = await run(flags);
  process.stdout.write(
    `${formatTable(rows)}\n(generator CPU: the load generator's own CPU seconds over the same interval, per change where the figure is per change)\nresults: ${file}\n`,
  );
}

if (process.argv[1] && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  main().then(
    () => process.exit(0),
    (error: Error) => {
      process.stderr.write(`bench failed: ${error.stack ?? error.message}\n`);
      process.exit(1);
    },
  );
}
