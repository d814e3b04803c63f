#!/usr/bin/env node
// `switchyard serve | render | validate | status | ca | capture` — the command line, parsed by commander from
// the FlagSpec lists. Each command's settings also come from SWITCHYARD_* environment
// variables and --config; then the module that does the work takes over.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import {
  closest,
  commanderMessage,
  defineFlags,
  flagValues,
  normalizeBooleanFlags,
  UsageError,
  type FlagSource,
  type FlagSpec,
  type FlagValues,
} from './flags.js';
import { configureLog, defaultLogFormat, log, type LogFormat } from '../log.js';
import { STATUS_FLAGS } from './status.js';
import { KUBERNETES_FLAGS } from '../sources/kube-flags.js';
import { SECURITY_FLAGS } from '../security/flags.js';
import { CA_ACTIONS, CA_FLAGS } from './ca.js';
import { CAPTURE_FLAGS, INJECTION_FLAGS } from '../injection/flags.js';

const LOG_FLAGS: FlagSpec[] = [
  { name: 'log-level', type: 'string', default: 'info', choices: ['error', 'warn', 'info', 'debug'], help: 'log level' },
  {
    name: 'log-format',
    type: 'string',
    defaultHelp: 'text when standard error is a terminal, else json',
    choices: ['json', 'text'],
    help: 'log line format',
  },
];

const TRANSLATE_FLAGS: FlagSpec[] = [
  {
    name: 'outbound-port',
    type: 'int',
    default: 15001,
    min: 1,
    max: 65535,
    help: "port of the sidecar's virtual outbound listener (where the capture rules send outbound TCP)",
  },
  {
    name: 'inbound-port',
    type: 'int',
    default: 15006,
    min: 1,
    max: 65535,
    help: "port of the sidecar's virtual inbound listener (where the capture rules send inbound TCP)",
  },
  {
    name: 'outbound-traffic',
    type: 'string',
    default: 'allow-any',
    choices: ['allow-any', 'registry-only'],
    help: 'captured connections to no Service: on to where they were going (allow-any), or closed (registry-only)',
  },
  {
    name: 'mtls-mode',
    type: 'string',
    default: 'Permissive',
    choices: ['Strict', 'Permissive', 'Disable'],
    help: 'mutual TLS between workloads for Services no AccessPolicy sets a mode for: Strict (TLS only), Permissive (TLS and plain text), Disable',
  },
  {
    name: 'legacy-lb-policy',
    type: 'boolean',
    default: false,
    help: 'emit lb_policy + *_lb_config for Envoys older than 1.24 instead of load_balancing_policy',
  },
  {
    name: 'maglev-min-endpoints',
    type: 'int',
    default: 8,
    min: 1,
    help: 'Auto policy: hashed services with at least this many endpoints get maglev, fewer get ring_hash',
  },
  { name: 'ingress-class', type: 'string', default: 'switchyard', help: 'Ingresses with this ingressClassName are served by the gateways' },
  { name: 'gateway-http-port', type: 'int', default: 8080, min: 1, max: 65535, help: "port of a gateway's HTTP listener" },
  { name: 'gateway-https-port', type: 'int', default: 8443, min: 1, max: 65535, help: "port of a gateway's HTTPS listener" },
];

const SERVE_FLAGS: FlagSpec[] = [
  {
    name: 'manifests',
    type: 'string',
    default: 'examples',
    help: 'folder of YAML manifests to serve (watched for changes); ignored with --kubernetes',
  },
  ...KUBERNETES_FLAGS,
  { name: 'xds-address', type: 'string', default: '127.0.0.1', help: 'address the xDS gRPC server listens on' },
  { name: 'xds-port', type: 'int', default: 18000, min: 0, max: 65535, help: 'xDS gRPC port' },
  ...SECURITY_FLAGS,
  ...INJECTION_FLAGS,
  {
    name: 'admin-address',
    type: 'string',
    default: '127.0.0.1',
    help: 'address the admin HTTP server listens on (0.0.0.0 in a pod, for the kubelet probes)',
  },
  { name: 'admin-port', type: 'int', default: 19000, min: 0, max: 65535, help: 'admin HTTP port (health, metrics, debug)' },
  { name: 'debounce-quiet-ms', type: 'int', default: 20, min: 0, help: 'push once changes have been quiet this long' },
  { name: 'debounce-max-ms', type: 'int', default: 250, min: 1, help: 'push at the latest this long after the first pending change' },
  {
    name: 'gateways',
    type: 'list',
    default: [],
    help: 'gateway names to build before any connects (others are built when their first proxy connects)',
  },
  ...TRANSLATE_FLAGS,
  ...LOG_FLAGS,
];

const RENDER_FLAGS: FlagSpec[] = [
  { name: 'manifests', type: 'string', default: 'examples', help: 'folder of YAML manifests' },
  { name: 'role', type: 'string', default: 'sidecar', choices: ['sidecar', 'proxyless', 'gateway'], help: 'the proxy role to render for' },
  { name: 'gateway', type: 'string', help: 'with --role gateway: the gateway name (node metadata switchyard.dev/gateway)' },
  {
    name: 'pod',
    type: 'string',
    help: "with --role sidecar: <namespace>/<name> of a Pod in the manifests; renders its sidecar: within its egress scope (the pod's own annotation, else its namespace's), with its inbound side and group",
  },
  { name: 'trust-domain', type: 'string', default: '', help: 'the SPIFFE trust domain of workload identities (default cluster.local)' },
  {
    name: 'client',
    type: 'string',
    help: 'render for this client, <implementation>/<version> (envoy, grpc-core, grpc-java, grpc-go, grpc-node; or unknown), e.g. grpc-core/1.51.1; adds the group and its degradations',
  },
  {
    name: 'certificate-provider',
    type: 'boolean',
    default: false,
    help: 'with --role proxyless: the client has the `workload` certificate provider (node metadata switchyard.dev/certificate-provider); adds its mutual TLS (gRFC A29)',
  },
  ...TRANSLATE_FLAGS,
  ...LOG_FLAGS,
];

const VALIDATE_FLAGS: FlagSpec[] = [
  { name: 'manifests', type: 'string', default: 'examples', help: 'folder of YAML manifests to check' },
  {
    name: 'output',
    type: 'string',
    default: 'text',
    choices: ['text', 'json'],
    help: 'text: problems grouped by file, with file:line; json: {"summary": ..., "problems": [...]} (docs/problems.md)',
  },
  // The same settings as serve: which Ingresses are ours and where TCP listeners bind decide some problems.
  ...TRANSLATE_FLAGS,
  ...LOG_FLAGS,
];

interface CommandDefinition {
  summary: string;
  flags: FlagSpec[];
  /** Takes the manifests folder as its argument, like --manifests. */
  folderArgument?: boolean;
  /** Takes one of these words as its argument (`ca init`), given to run() as `action`. */
  actions?: readonly string[];
  /** What a stray argument probably meant, for the error. */
  strayHint?: (argument: string) => string;
  run(values: FlagValues, output: CliOutput): Promise<number>;
}

const COMMANDS: Record<string, CommandDefinition> = {
  serve: {
    summary: 'serve xDS (state of the world and delta ADS) for a folder of manifests or a Kubernetes cluster',
    flags: SERVE_FLAGS,
    folderArgument: true,
    async run(values) {
      const { serve } = await import('./serve.js');
      return serve(values);
    },
  },
  render: {
    summary: 'print every resource a proxy of a role would get, as JSON',
    flags: RENDER_FLAGS,
    folderArgument: true,
    async run(values) {
      if (values.role === 'gateway' && !values.gateway)
        throw new UsageError('--role gateway needs --gateway NAME (the name in node metadata switchyard.dev/gateway)');
      if (values.pod !== undefined && values.role !== 'sidecar') throw new UsageError('--pod: only with --role sidecar');
      if (values.pod !== undefined && !/^[^/\s]+\/[^/\s]+$/.test(String(values.pod)))
        throw new UsageError(`--pod: "${String(values.pod)}" is not <namespace>/<name>`);
      const { render } = await import('./render.js');
      return render(values);
    },
  },
  validate: {
    summary: 'check a folder of manifests; lists every problem (file:line, object, field, fix); exits 1 on errors',
    flags: VALIDATE_FLAGS,
    folderArgument: true,
    async run(values) {
      const { validate } = await import('./render.js');
      return validate(values.manifests as string, values);
    },
  },
  status: {
    summary: 'list connected proxies and whether each holds the latest CDS/EDS/LDS/RDS/SDS (SYNCED, STALE, NACKED, NOT SENT)',
    flags: [...STATUS_FLAGS, ...LOG_FLAGS],
    strayHint: (argument) => `--admin ${argument}`,
    async run(values) {
      const { status } = await import('./status.js');
      return status(values as Parameters<typeof status>[0]);
    },
  },
  ca: {
    summary: 'a test CA: `ca init` makes a root, `ca issue` a workload (SPIFFE ID) or server certificate as tls.crt, tls.key, ca.crt',
    flags: [...CA_FLAGS, ...LOG_FLAGS],
    actions: CA_ACTIONS,
    async run(values, output) {
      const { ca } = await import('./ca.js');
      return ca(values, output.stdout);
    },
  },
  capture: {
    summary: "print (or with --apply install) the sidecar's iptables capture rules; what an injected pod's init container runs",
    flags: [...CAPTURE_FLAGS, ...LOG_FLAGS],
    async run(values) {
      const { capture } = await import('./capture.js');
      return capture(values);
    },
  },
};

/** Every command's flag names: the keys a --config file may hold. */
const ALL_SETTINGS = new Set(Object.values(COMMANDS).flatMap((c) => c.flags.map((f) => f.name)));

const SETTINGS_HELP = `
Every flag can also be set in the environment (--xds-port: SWITCHYARD_XDS_PORT) or in a YAML
or JSON file given with --config (keys are flag names; one file may hold the flags of every
command). A flag beats the environment, which beats the file. Boolean flags: --name turns
one on; --no-name, --name=false or --name false turn it off.`;

/** package.json's version, found above this module (dist/src/cli/ when built, src/cli/ in tests). */
function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

/** The manifests folder from `render DIR` (or serve, validate): the argument, else --manifests. */
function applyArguments(
  name: string,
  definition: CommandDefinition,
  args: string[],
  values: FlagValues,
  sources: Record<string, FlagSource>,
): void {
  if (definition.actions) {
    if (args.length !== 1 || !definition.actions.includes(args[0])) {
      throw new UsageError(`takes one of ${definition.actions.join(', ')}${args.length > 0 ? `, got ${args.join(' ')}` : ''}`);
    }
    values.action = args[0];
    return;
  }
  if (!definition.folderArgument) {
    if (args.length === 0) return;
    const flag = closest(
      args[0].replace(/^-+/, ''),
      definition.flags.map((f) => f.name),
    );
    const hint = flag ? `--${flag}` : definition.strayHint?.(args[0]);
    throw new UsageError(`unexpected argument "${args[0]}"${hint ? ` (did you mean ${hint}?)` : ''}; ${name} takes only flags`);
  }
  if (args.length === 0) return;
  if (args.length > 1) throw new UsageError(`takes one manifests folder, got ${args.length}: ${args.join(' ')}`);
  const [folder] = args;
  if (sources.manifests === 'flag' && path.resolve(values.manifests as string) !== path.resolve(folder)) {
    throw new UsageError(`two manifests folders given, ${folder} and --manifests ${values.manifests as string}; give one`);
  }
  if (values.kubernetes === true) throw new UsageError(`a manifests folder (${folder}) and --kubernetes exclude each other; give one`);
  values.manifests = folder;
}

export interface CliOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Runs the command line `argv` (without node and the script); resolves to the exit code:
 * 0 done, 1 the command failed, 2 the command line is wrong. */
export async function main(
  argv: string[],
  output: CliOutput = { stdout: process.stdout, stderr: process.stderr },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const program = new Command('switchyard')
    .description('Switchyard: an Envoy xDS control plane for Kubernetes.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print help')
    .helpCommand('help [command]', "print a command's help")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.stdout.write(text),
      writeErr: (text) => output.stderr.write(text),
      outputError: () => undefined,
    })
    .addHelpText('after', "\nRun 'switchyard <command> --help' for a command's flags.");
  let chosen: { name: string; definition: CommandDefinition; command: Command } | undefined;
  for (const [name, definition] of Object.entries(COMMANDS)) {
    const command = program.command(name).description(definition.summary).helpOption('-h, --help', 'print help');
    if (definition.folderArgument) command.argument('[dir]', 'folder of YAML manifests (the same as --manifests DIR)');
    if (definition.actions) command.argument('[action]', definition.actions.join(' | '));
    defineFlags(command, definition.flags)
      .allowExcessArguments(true)
      .addHelpText('after', SETTINGS_HELP)
      .action(() => {
        chosen = { name, definition, command };
      });
  }
  const named = COMMANDS[argv[0]] ? argv[0] : undefined;
  const prefix = named ? `switchyard ${named}` : 'switchyard';
  try {
    const args = named ? [named, ...normalizeBooleanFlags(COMMANDS[named].flags, argv.slice(1))] : argv;
    program.parse(args, { from: 'user' });
    if (!chosen) return 2;
    const { values, sources } = flagValues(chosen.command, chosen.definition.flags, env, ALL_SETTINGS);
    applyArguments(chosen.name, chosen.definition, chosen.command.args, values, sources);
    configureLog({ level: values.logLevel as string, format: (values.logFormat as LogFormat | undefined) ?? defaultLogFormat() });
    return await chosen.definition.run(values, output);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; help for a missing command was written to stderr.
      if (error.exitCode === 0) return 0;
      if (error.code !== 'commander.help') {
        const more = named ? `run 'switchyard ${named} --help' for its flags` : "run 'switchyard --help' for the commands";
        output.stderr.write(`${prefix}: ${commanderMessage(error)}\n${more}\n`);
      }
      return 2;
    }
    if (error instanceof UsageError) {
      output.stderr.write(`${prefix}: ${error.message}\n`);
      return 2;
    }
    log.error('command failed', { command: named, error: (error as Error).message });
    return 1;
  }
}

function invokedDirectly(): boolean {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // serve has shut down its servers; leave no stray handle holding the process.
      if (process.argv[2] === 'serve') process.exit(code);
    },
    (error: unknown) => {
      log.error('fatal', { error: (error as Error).message });
      process.exitCode = 1;
    },
  );
}
