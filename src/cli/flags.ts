// Command-line settings. Each flag can also come from an environment variable
// (SWITCHYARD_<FLAG>, e.g. SWITCHYARD_XDS_PORT) or from a JSON/YAML config file given with
// --config; the precedence is flag > environment > file > default. A bad value stops
// start-up with a message that names the flag and what it accepts.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { TranslateOptions } from '../translate/options.js';

export type FlagType = 'string' | 'int' | 'boolean' | 'list';

export interface FlagSpec {
  name: string; // kebab-case, without dashes
  type: FlagType;
  help: string;
  default?: string | number | boolean | string[];
  choices?: readonly string[];
  min?: number;
  max?: number;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export class UsageError extends Error {}

export function envName(flag: string): string {
  return 'SWITCHYARD_' + flag.toUpperCase().replace(/-/g, '_');
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function convert(spec: FlagSpec, raw: unknown, from: string): string | number | boolean | string[] {
  const where = `${from} --${spec.name}`;
  if (spec.type === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    const text = String(raw).toLowerCase();
    if (['true', '1', 'yes', ''].includes(text)) return true;
    if (['false', '0', 'no'].includes(text)) return false;
    throw new UsageError(`${where}: expected true or false, got "${raw}"`);
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
  return text;
}

/**
 * Parses argv (after the subcommand) against the flag specs. Returns the values keyed by
 * camelCase flag name, and the positional arguments.
 */
export function parseFlags(
  specs: FlagSpec[],
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): { values: FlagValues; positional: string[]; help: boolean } {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const fromFlags = new Map<string, unknown>();
  const positional: string[] = [];
  let help = false;
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = arg.slice(2, eq === -1 ? undefined : eq);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (name === 'config') {
      configFile = value ?? argv[++i];
      if (!configFile) throw new UsageError('--config: expects a file path');
      continue;
    }
    let negated = false;
    if (!byName.has(name) && name.startsWith('no-') && byName.get(name.slice(3))?.type === 'boolean') {
      name = name.slice(3);
      negated = true;
    }
    const spec = byName.get(name);
    if (!spec) {
      const known = specs.map((s) => `--${s.name}`).join(', ');
      throw new UsageError(`unknown flag --${name}; accepted flags: ${known}, --config, --help`);
    }
    if (spec.type === 'boolean') {
      fromFlags.set(name, negated ? false : (value ?? true));
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name}: expects a value (${spec.help})`);
    }
    fromFlags.set(name, value);
  }

  configFile ??= env[envName('config')];
  const fromFile = configFile ? readConfigFile(configFile, byName) : new Map<string, unknown>();

  const values: FlagValues = {};
  for (const spec of specs) {
    let value: string | number | boolean | string[] | undefined;
    if (fromFlags.has(spec.name)) value = convert(spec, fromFlags.get(spec.name), 'flag');
    else if (env[envName(spec.name)] !== undefined) value = convert(spec, env[envName(spec.name)], `environment ${envName(spec.name)} for`);
    else if (fromFile.has(spec.name)) value = convert(spec, fromFile.get(spec.name), `config file ${configFile}:`);
    else value = spec.default;
    values[camel(spec.name)] = value;
  }
  return { values, positional, help };
}

function readConfigFile(file: string, byName: Map<string, FlagSpec>): Map<string, unknown> {
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
    if (!byName.has(name)) {
      throw new UsageError(`--config ${file}: unknown setting "${key}"; accepted: ${[...byName.keys()].join(', ')}`);
    }
    values.set(name, value);
  }
  return values;
}

export function flagHelp(specs: FlagSpec[]): string {
  const lines = specs.map((s) => {
    const def = s.default === undefined ? '' : ` (default: ${Array.isArray(s.default) ? s.default.join(',') || 'none' : s.default})`;
    const choices = s.choices ? ` [${s.choices.join('|')}]` : '';
    return `  --${s.name}${choices}\n      ${s.help}${def}; env ${envName(s.name)}`;
  });
  lines.push('  --config FILE\n      read settings from a YAML or JSON file (keys are flag names); env SWITCHYARD_CONFIG');
  return lines.join('\n');
}

/** The translator settings `serve` and `render` share, from their flags. */
export function translateSettings(values: FlagValues): Partial<TranslateOptions> {
  return {
    outboundHttpPort: values.outboundPort as number,
    legacyLbPolicy: values.legacyLbPolicy as boolean,
    maglevMinEndpoints: values.maglevMinEndpoints as number,
    ingressClass: values.ingressClass as string,
    gatewayHttpPort: values.gatewayHttpPort as number,
    gatewayHttpsPort: values.gatewayHttpsPort as number,
  };
}
