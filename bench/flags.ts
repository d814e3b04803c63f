// The bench runner's command line: scenarios, their defaults, and the flag parser.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCENARIOS = [
  'translate',
  'initial-sync',
  'endpoint-churn',
  'sotw-churn',
  'memory',
  'burst',
  'soak',
  'rest',
  'capacity',
  'scope',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Flags {
  scenario: Scenario;
  services: number;
  endpoints: number;
  clients: number;
  deltaShare: number;
  changes: number;
  /** host:port of an external ADS server; unset: the runner starts `server` itself. */
  target?: string;
  server: 'switchyard' | 'floor';
  /** Where Switchyard reads the mesh: the in-memory source driven over IPC, or — as users run it —
   * `switchyard serve` on a generated folder or against the test Kubernetes API server. */
  source: 'memory' | 'folder' | 'kube';
  /** capacity: the client counts to measure, one server per count. */
  clientsList: number[];
  /** The external target's pid, for its CPU and RSS. */
  pid?: number;
  /** Where to POST source events (JSON array) for an external target. */
  applyUrl?: string;
  workers: number;
  seed: number;
  events: number;
  burstMs: number;
  changeTimeoutMs: number;
  syncTimeoutMs: number;
  idleMs: number;
  quietMs?: number;
  maxMs?: number;
  /** Run the floor after the server under test (churn scenarios). */
  floor: boolean;
  /** soak: how long to churn, and how many endpoint events per second. */
  durationS?: number;
  rate?: number;
  out: string;
}

const SCENARIO_DEFAULTS: Record<Scenario, Partial<Flags>> = {
  translate: { services: 10_000, endpoints: 10, clients: 0 },
  'initial-sync': { services: 1000, endpoints: 10, clients: 2000, deltaShare: 0.5 },
  'endpoint-churn': { services: 1000, endpoints: 10, clients: 2000, deltaShare: 1, changes: 200 },
  'sotw-churn': { services: 1000, endpoints: 10, clients: 2000, deltaShare: 0, changes: 200 },
  memory: { services: 1000, endpoints: 10, clients: 2000, deltaShare: 0.5 },
  burst: { services: 1000, endpoints: 10, clients: 2000, deltaShare: 0.5, events: 5000 },
  soak: { services: 1000, endpoints: 10, clients: 1000, deltaShare: 0.5, durationS: 600, rate: 50 },
  rest: { services: 1000, endpoints: 10, clients: 2000, deltaShare: 1, durationS: 120, source: 'folder' },
  capacity: { services: 1000, endpoints: 10, deltaShare: 1, changes: 50, source: 'folder', clientsList: [500, 1000, 2000, 4000] },
  scope: { services: 10_000, endpoints: 10, clients: 0 },
};

const NUMERIC_FLAGS: Record<string, keyof Flags> = {
  services: 'services',
  endpoints: 'endpoints',
  clients: 'clients',
  'delta-share': 'deltaShare',
  changes: 'changes',
  pid: 'pid',
  workers: 'workers',
  seed: 'seed',
  events: 'events',
  'burst-ms': 'burstMs',
  'change-timeout-ms': 'changeTimeoutMs',
  'sync-timeout-ms': 'syncTimeoutMs',
  'idle-ms': 'idleMs',
  'quiet-ms': 'quietMs',
  'max-ms': 'maxMs',
  'duration-s': 'durationS',
  rate: 'rate',
};

export const USAGE = `usage: npm run bench -- <scenario> [flags]
scenarios: ${SCENARIOS.join(', ')}
flags: --services S --endpoints E --clients N --delta-share X --changes C
       --server switchyard|floor   (default switchyard; floor: the bare server alone)
       --target host:port [--pid P] [--apply-url URL]   (an external ADS server)
       --workers W --seed K --events M --burst-ms T --no-floor
       --change-timeout-ms T --sync-timeout-ms T --idle-ms T --quiet-ms T --max-ms T --out DIR
       --duration-s S --rate R   (soak: churn for S seconds at R endpoint events per second; rest: measure S seconds)
       --source memory|folder|kube   (memory: in-memory source over IPC; folder / kube: \`switchyard serve\` on a
                                      generated folder / against the test API server, changes as file renames / PUTs)
       --clients-list 500,1000,...   (capacity: the client counts)`;

export function parseFlags(argv: string[]): Flags {
  const [scenario, ...rest] = argv;
  if (!scenario || !(SCENARIOS as readonly string[]).includes(scenario)) {
    throw new Error(`unknown scenario "${scenario ?? ''}"\n${USAGE}`);
  }
  const flags: Flags = {
    scenario: scenario as Scenario,
    services: 1000,
    endpoints: 10,
    clients: 2000,
    deltaShare: 0.5,
    changes: 200,
    server: 'switchyard',
    source: 'memory',
    clientsList: [500, 1000, 2000, 4000],
    workers: 1,
    seed: 1,
    events: 5000,
    burstMs: 1000,
    changeTimeoutMs: 10_000,
    syncTimeoutMs: 120_000,
    idleMs: 3000,
    floor: true,
    out: path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results'),
    ...SCENARIO_DEFAULTS[scenario as Scenario],
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"\n${USAGE}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    let value = inline;
    if (name === 'no-floor') {
      flags.floor = false;
      continue;
    }
    if (value === undefined) {
      value = rest[++i];
      if (value === undefined) throw new Error(`--${name} needs a value\n${USAGE}`);
    }
    const numeric = NUMERIC_FLAGS[name];
    if (numeric) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got "${value}"`);
      (flags as unknown as Record<string, number>)[numeric] = n;
    } else if (name === 'target') {
      if (!/^[^:]+:\d+$/.test(value)) throw new Error(`--target must be host:port, got "${value}"`);
      flags.target = value;
    } else if (name === 'server') {
      if (value !== 'switchyard' && value !== 'floor') throw new Error(`--server must be switchyard or floor, got "${value}"`);
      flags.server = value;
    } else if (name === 'source') {
      if (value !== 'memory' && value !== 'folder' && value !== 'kube')
        throw new Error(`--source must be memory, folder or kube, got "${value}"`);
      flags.source = value;
    } else if (name === 'clients-list') {
      const counts = value.split(',').map(Number);
      if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--clients-list takes positive integers, got "${value}"`);
      flags.clientsList = counts;
    } else if (name === 'apply-url') flags.applyUrl = value;
    else if (name === 'out') flags.out = value;
    else throw new Error(`unknown flag --${name}\n${USAGE}`);
  }
  if (flags.deltaShare > 1) throw new Error(`--delta-share is a share between 0 and 1, got ${flags.deltaShare}`);
  const drivesChanges = flags.scenario === 'endpoint-churn' || flags.scenario === 'sotw-churn' || flags.scenario === 'burst';
  if (flags.target && drivesChanges && !flags.applyUrl) {
    throw new Error(
      `${flags.scenario} changes endpoints: with an external --target, give --apply-url (where to POST source events as JSON)`,
    );
  }
  if (flags.target && flags.scenario === 'memory' && flags.pid === undefined) {
    throw new Error("memory reads the server's RSS: with an external --target, give --pid");
  }
  return flags;
}
