#!/usr/bin/env node
// `switchyard serve | render | validate` — the command line. Each subcommand parses its
// flags (also from SWITCHYARD_* environment variables and --config), then hands off to
// the module that does the work.
import { pathToFileURL } from 'node:url';
import { realpathSync } from 'node:fs';
import { parseFlags, flagHelp, UsageError, type FlagSpec, type FlagValues } from './flags.js';
import { configureLog, log, type LogFormat } from '../log.js';
import { STATUS_FLAGS } from './status.js';
import { KUBERNETES_FLAGS } from '../sources/kube-flags.js';
import { SECURITY_FLAGS } from '../security/flags.js';

const LOG_FLAGS: FlagSpec[] = [
  { name: 'log-level', type: 'string', default: 'info', choices: ['error', 'warn', 'info', 'debug'], help: 'log level' },
  { name: 'log-format', type: 'string', default: 'json', choices: ['json', 'text'], help: 'log line format' },
];

const TRANSLATE_FLAGS: FlagSpec[] = [
  { name: 'outbound-port', type: 'int', default: 15001, min: 1, max: 65535, help: "port of the sidecar's outbound HTTP listener" },
  { name: 'legacy-lb-policy', type: 'boolean', default: false, help: 'emit lb_policy + *_lb_config for Envoys older than 1.24 instead of load_balancing_policy' },
  { name: 'maglev-min-endpoints', type: 'int', default: 8, min: 1, help: 'Auto policy: hashed services with at least this many endpoints get maglev, fewer get ring_hash' },
  { name: 'ingress-class', type: 'string', default: 'switchyard', help: 'Ingresses with this ingressClassName are served by the gateways' },
  { name: 'gateway-http-port', type: 'int', default: 8080, min: 1, max: 65535, help: "port of a gateway's HTTP listener" },
  { name: 'gateway-https-port', type: 'int', default: 8443, min: 1, max: 65535, help: "port of a gateway's HTTPS listener" },
];

const SERVE_FLAGS: FlagSpec[] = [
  { name: 'manifests', type: 'string', default: 'examples', help: 'folder of YAML manifests to serve (watched for changes); ignored with --kubernetes' },
  ...KUBERNETES_FLAGS,
  { name: 'xds-address', type: 'string', default: '127.0.0.1', help: 'address the xDS gRPC server listens on' },
  { name: 'xds-port', type: 'int', default: 18000, min: 0, max: 65535, help: 'xDS gRPC port' },
  ...SECURITY_FLAGS,
  { name: 'admin-address', type: 'string', default: '127.0.0.1', help: 'address the admin HTTP server listens on (0.0.0.0 in a pod, for the kubelet probes)' },
  { name: 'admin-port', type: 'int', default: 19000, min: 0, max: 65535, help: 'admin HTTP port (health, metrics, debug)' },
  { name: 'debounce-quiet-ms', type: 'int', default: 20, min: 0, help: 'push once changes have been quiet this long' },
  { name: 'debounce-max-ms', type: 'int', default: 250, min: 1, help: 'push at the latest this long after the first pending change' },
  { name: 'gateways', type: 'list', default: [], help: 'gateway names to build before any connects (others are built when their first proxy connects)' },
  ...TRANSLATE_FLAGS,
  ...LOG_FLAGS,
];

const RENDER_FLAGS: FlagSpec[] = [
  { name: 'manifests', type: 'string', default: 'examples', help: 'folder of YAML manifests' },
  { name: 'role', type: 'string', default: 'sidecar', choices: ['sidecar', 'proxyless', 'gateway'], help: 'the proxy role to render for' },
  { name: 'gateway', type: 'string', help: 'with --role gateway: the gateway name (node metadata switchyard.dev/gateway)' },
  ...TRANSLATE_FLAGS,
  ...LOG_FLAGS,
];

const VALIDATE_FLAGS: FlagSpec[] = [...LOG_FLAGS];

interface Command {
  summary: string;
  usage: string;
  flags: FlagSpec[];
  run(values: FlagValues, positional: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'serve xDS (state of the world and delta ADS) for a folder of manifests or a Kubernetes cluster',
    usage: 'switchyard serve [--manifests DIR | --kubernetes [--kubeconfig FILE]] [--xds-port 18000] [--admin-port 19000]',
    flags: SERVE_FLAGS,
    async run(values) {
      const { serve } = await import('./serve.js');
      return serve(values);
    },
  },
  render: {
    summary: 'print every resource a proxy of a role would get, as JSON',
    usage: 'switchyard render [--manifests DIR] [--role sidecar|proxyless|gateway] [--gateway NAME]',
    flags: RENDER_FLAGS,
    async run(values) {
      if (values.role === 'gateway' && !values.gateway) throw new UsageError('--role gateway needs --gateway NAME (the name in node metadata switchyard.dev/gateway)');
      const { render } = await import('./render.js');
      return render(values);
    },
  },
  validate: {
    summary: 'check a folder of manifests; exits non-zero naming each bad object, field and reason',
    usage: 'switchyard validate DIR',
    flags: VALIDATE_FLAGS,
    async run(_values, positional) {
      if (positional.length !== 1) throw new UsageError('validate: expects exactly one folder, e.g. switchyard validate examples');
      const { validate } = await import('./render.js');
      return validate(positional[0]);
    },
  },
  status: {
    summary: 'list connected proxies and whether each holds the latest CDS/EDS/LDS/RDS/SDS (SYNCED, STALE, NACKED, NOT SENT)',
    usage: 'switchyard status [--admin 127.0.0.1:19000]',
    flags: [...STATUS_FLAGS, ...LOG_FLAGS],
    async run(values) {
      const { status } = await import('./status.js');
      return status(values as Parameters<typeof status>[0]);
    },
  },
};

function mainHelp(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Switchyard: an Envoy xDS control plane for Kubernetes.\n\nUsage: switchyard <command> [flags]\n\nCommands:\n${lines.join('\n')}\n\nRun 'switchyard <command> --help' for a command's flags.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`switchyard: unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  try {
    const { values, positional, help } = parseFlags(command.flags, rest);
    if (help) {
      process.stdout.write(`${command.summary}\n\nUsage: ${command.usage}\n\nFlags:\n${flagHelp(command.flags)}\n`);
      return 0;
    }
    configureLog({ level: values.logLevel as string, format: values.logFormat as LogFormat });
    return await command.run(values, positional);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`switchyard ${name}: ${error.message}\n`);
      return 2;
    }
    log.error('command failed', { command: name, error: (error as Error).message });
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
