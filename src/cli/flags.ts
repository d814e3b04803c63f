// Command-line settings. Flags are declared as FlagSpec lists (next to the code that uses
// them) and parsed with commander. Each flag can also come from an environment variable
// (SWITCHYARD_<FLAG>, e.g. SWITCHYARD_XDS_PORT) or from a JSON/YAML config file given with
// --config; the precedence is flag > environment > file > default. A bad value stops
// start-up with a message that names the flag and what it accepts.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import YAML from 'yaml';
import type { OutboundTraffic, TranslateOptions } from '../translate/index.js';
import type { MtlsMode } from '../model/index.js';

export type FlagType = 'string' | 'int' | 'boolean' | 'list';

export interface FlagSpec {
  name: string; // kebab-case, without dashes
  type: FlagType;
  help: string;
  default?: string | number | boolean | string[];
  /** The default in words, for help, when `default` alone does not say it (e.g. "all namespaces"). */
  defaultHelp?: string;
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** Further checks on a string value: what the flag accepts when `value` is wrong, else undefined. */
  check?: (value: string) => string | undefined;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

/** Where a flag's value came from. */
export type FlagSource = 'flag' | 'environment' | 'config file' | 'default';

export class UsageError extends Error {}

function envName(flag: string): string {
  return 'SWITCHYARD_' + flag.toUpperCase().replace(/-/g, '_');
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

const TRUE_WORDS = ['true', 'yes', '1'];
const FALSE_WORDS = ['false', 'no', '0'];

function booleanWord(text: string): boolean | undefined {
  const lower = text.toLowerCase();
  if (TRUE_WORDS.includes(lower)) return true;
  if (FALSE_WORDS.includes(lower)) return false;
  return undefined;
}

function convert(spec: FlagSpec, raw: unknown, from: string): string | number | boolean | string[] {
  const where = `${from} --${spec.name}`;
  if (spec.type === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    const value = String(raw) === '' ? true : booleanWord(String(raw));
    if (value === undefined) throw new UsageError(`${where}: expected true or false, got "${raw}"`);
    return value;
  }
  if (spec.type === 'int') {
    const text = String(raw);
    if (!/^-?\d+$/.test(text)) throw new UsageError(`${where}: expected a whole number, got "${raw}"`);
    const value = Number(text);
    if (spec.min !== undefined && value < spec.min) throw new UsageError(`${where}: must be at least ${spec.min}, got ${value}`);
    if (spec.max !== undefined && value > spec.max) throw new UsageError(`${where}: must be at most ${spec.max}, got ${value}`);
    return value;
  }
  if (spec.type === 'list') {
    const items = Array.isArray(raw) ? raw.map(String) : String(raw).split(',');
    return items.map((s) => s.trim()).filter((s) => s.length > 0);
  }
  const text = String(raw);
  if (spec.choices && !spec.choices.includes(text)) {
    throw new UsageError(`${where}: must be one of ${spec.choices.join(', ')}, got "${raw}"`);
  }
  const problem = spec.check?.(text);
  if (problem !== undefined) throw new UsageError(`${where}: ${problem}, got "${raw}"`);
  return text;
}

/** The closest of `candidates` to a mistyped `word`, if one is close enough to be what was meant. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours.
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The default as help shows it, or undefined when there is none worth showing (off, empty). */
function defaultText(spec: FlagSpec): string | undefined {
  if (spec.defaultHelp !== undefined) return spec.defaultHelp;
  const value = spec.default;
  if (value === undefined || value === '' || value === false || (Array.isArray(value) && value.length === 0)) return undefined;
  if (value === true) return `on; --no-${spec.name} turns it off`;
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** A flag's line in help: what it does, and its default once. */
function flagDescription(spec: FlagSpec): string {
  const def = defaultText(spec);
  return def === undefined ? spec.help : `${spec.help} (default: ${def})`;
}

function placeholder(spec: FlagSpec): string {
  if (spec.choices) return `<${spec.choices.join('|')}>`;
  return { string: '<value>', int: '<number>', list: '<a,b,...>', boolean: '' }[spec.type];
}

const CONFIG_SPEC: FlagSpec = {
  name: 'config',
  type: 'string',
  help: "read settings from a YAML or JSON file whose keys are flag names (any command's)",
};

/** Adds the specs (and --config) to a commander command as options. Values are only taken
 * from the command line here; environment, file and defaults are applied by flagValues. */
export function defineFlags(command: Command, specs: FlagSpec[]): Command {
  for (const spec of [...specs, CONFIG_SPEC]) {
    if (spec.type === 'boolean') {
      command.addOption(new Option(`--${spec.name}`, flagDescription(spec)));
      command.addOption(new Option(`--no-${spec.name}`).hideHelp());
      continue;
    }
    const option = new Option(`--${spec.name} ${placeholder(spec)}`, flagDescription(spec));
    // A list flag may be repeated: --namespaces a --namespaces b is --namespaces a,b.
    if (spec.type === 'list')
      option.argParser((value: string, previous: unknown) => (previous === undefined ? value : `${String(previous)},${value}`));
    command.addOption(option);
  }
  return command;
}

/**
 * Rewrites `--flag=false`, `--flag false` (and true, yes, no, 1, 0) for boolean flags into
 * `--flag` or `--no-flag`, which is what commander parses. A boolean flag takes the next
 * argument only when it is one of those words, so `render --legacy-lb-policy DIR` keeps DIR.
 */
export function normalizeBooleanFlags(specs: FlagSpec[], argv: string[]): string[] {
  const types = new Map<string, FlagType>([...specs, CONFIG_SPEC].map((s) => [s.name, s.type]));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const match = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    const type = match ? types.get(match[1]) : undefined;
    if (!match || type === undefined) {
      out.push(arg);
      continue;
    }
    const [, name, inline] = match;
    if (type !== 'boolean') {
      out.push(arg);
      // The value of `--name value` is never a flag of its own.
      if (inline === undefined && i + 1 < argv.length) out.push(argv[++i]);
      continue;
    }
    let word = inline;
    if (word === undefined && i + 1 < argv.length && booleanWord(argv[i + 1]) !== undefined) word = argv[++i];
    if (word === undefined) {
      out.push(arg);
      continue;
    }
    const value = booleanWord(word);
    if (value === undefined) throw new UsageError(`flag --${name}: expected true or false, got "${word}"`);
    out.push(value ? `--${name}` : `--no-${name}`);
  }
  return out;
}

/**
 * The settings of `command` (already parsed by commander, with options from defineFlags):
 * each from the command line, else the environment, else the --config file, else its
 * default. `knownSettings` are the flag names of every command: a config file may hold any
 * of them (those of other commands are ignored); a key that is none of them is an error.
 */
export function flagValues(
  command: Command,
  specs: FlagSpec[],
  env: NodeJS.ProcessEnv,
  knownSettings: Iterable<string> = specs.map((s) => s.name),
): { values: FlagValues; sources: Record<string, FlagSource> } {
  const given = (name: string): unknown => {
    const key = camel(name);
    return command.getOptionValueSource(key) === 'cli' ? command.getOptionValue(key) : undefined;
  };
  const configFile = (given('config') as string | undefined) ?? env[envName('config')];
  const fromFile = configFile ? readConfigFile(configFile, new Set(knownSettings)) : new Map<string, unknown>();
  const values: FlagValues = {};
  const sources: Record<string, FlagSource> = {};
  for (const spec of specs) {
    const key = camel(spec.name);
    const fromFlag = given(spec.name);
    const fromEnv = env[envName(spec.name)];
    if (fromFlag !== undefined) {
      values[key] = convert(spec, fromFlag, 'flag');
      sources[key] = 'flag';
    } else if (fromEnv !== undefined) {
      values[key] = convert(spec, fromEnv, `environment ${envName(spec.name)} for`);
      sources[key] = 'environment';
    } else if (fromFile.has(spec.name)) {
      values[key] = convert(spec, fromFile.get(spec.name), `config file ${configFile}:`);
      sources[key] = 'config file';
    } else {
      values[key] = spec.default;
      sources[key] = 'default';
    }
  }
  return { values, sources };
}

function readConfigFile(file: string, known: Set<string>): Map<string, unknown> {
  let parsed: unknown;
  try {
    parsed = YAML.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--config ${file}: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return new Map();
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--config ${file}: expected a mapping of flag names to values`);
  }
  const values = new Map<string, unknown>();
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const name = key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    if (!known.has(name)) {
      const guess = closest(name, known);
      throw new UsageError(
        `--config ${file}: unknown setting "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; keys are the flag names of any command, see switchyard <command> --help`,
      );
    }
    values.set(name, value);
  }
  return values;
}

/** commander's error text ("error: unknown option '--x'\n(Did you mean --y?)") as one clause. */
export function commanderMessage(error: CommanderError): string {
  return error.message.replace(/^error: /, '').replace(/\n\(Did you mean (.*)\?\)$/s, ' (did you mean $1?)');
}

/**
 * Parses argv (after the subcommand) against the flag specs. Returns the values keyed by
 * camelCase flag name, where each came from, the positional arguments, and whether help
 * was asked for. Throws UsageError for an unknown flag or a bad value.
 */
export function parseFlags(
  specs: FlagSpec[],
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  knownSettings?: Iterable<string>,
): { values: FlagValues; sources: Record<string, FlagSource>; positional: string[]; help: boolean } {
  const command = defineFlags(new Command('switchyard'), specs)
    .helpOption(false)
    .option('-h, --help')
    .allowExcessArguments(true)
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  try {
    command.parse(normalizeBooleanFlags(specs, argv), { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) throw new UsageError(commanderMessage(error));
    throw error;
  }
  const { values, sources } = flagValues(command, specs, env, knownSettings);
  return { values, sources, positional: command.args, help: command.getOptionValue('help') === true };
}

/** The translator settings `serve` and `render` share, from their flags. */
export function translateSettings(values: FlagValues): Partial<TranslateOptions> {
  return {
    outboundPort: values.outboundPort as number,
    inboundPort: values.inboundPort as number,
    outboundTraffic: values.outboundTraffic as OutboundTraffic,
    mtlsMode: values.mtlsMode as MtlsMode,
    // serve's --trust-domain (the identity rule's) is the mesh's; empty: the default.
    trustDomain: typeof values.trustDomain === 'string' && values.trustDomain !== '' ? values.trustDomain : undefined,
    legacyLbPolicy: values.legacyLbPolicy as boolean,
    maglevMinEndpoints: values.maglevMinEndpoints as number,
    ingressClass: values.ingressClass as string,
    gatewayHttpPort: values.gatewayHttpPort as number,
    gatewayHttpsPort: values.gatewayHttpsPort as number,
  };
}
