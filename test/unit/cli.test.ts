// The command line never guesses: each case here was a trap of the hand-written parser
// (positional folders ignored, `--flag false` turning a flag on, unknown short flags
// accepted, no --version, doubled defaults in help, a bad --admin exiting 1, a --config
// file usable by one command only, no suggestion for a typo).
import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import { parseFlags, type FlagSpec } from '../../src/cli/flags.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** Runs the CLI in-process; what it writes itself (help, errors) and what commands print. */
async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  // render and validate print their results on process.stdout.
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
  try {
    const code = await main(
      [...argv],
      { stdout: { write: (text: string) => stdout.push(text) }, stderr: { write: (text: string) => stderr.push(text) } },
      { SWITCHYARD_LOG_LEVEL: 'error', ...env },
    );
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    spy.mockRestore();
  }
}

let mesh: string;

beforeAll(() => {
  // A mesh with one Service that examples/ does not have.
  mesh = mkdtempSync(path.join(tmpdir(), 'switchyard-cli-'));
  writeFileSync(
    path.join(mesh, 'inventory.yaml'),
    [
      'apiVersion: v1',
      'kind: Service',
      'metadata: { name: inventory, namespace: stock }',
      'spec:',
      '  ports: [{ name: http, port: 8080, appProtocol: http }]',
      '---',
      'apiVersion: discovery.k8s.io/v1',
      'kind: EndpointSlice',
      'metadata: { name: inventory-1, namespace: stock, labels: { kubernetes.io/service-name: inventory } }',
      'addressType: IPv4',
      'ports: [{ name: http, port: 8080, protocol: TCP }]',
      'endpoints: [{ addresses: [10.9.0.1], conditions: { ready: true } }]',
      '---',
      'apiVersion: switchyard.dev/v1alpha1',
      'kind: TrafficPolicy',
      'metadata: { name: inventory, namespace: stock }',
      'spec:',
      '  targetRef: { kind: Service, name: inventory }',
      '  loadBalancer: { policy: RingHash, hashOn: [{ header: { name: x-user } }] }',
      '',
    ].join('\n'),
  );
});

afterEach(() => {
  jest.restoreAllMocks();
});

function clusterNames(renderOutput: string): string[] {
  const document = JSON.parse(renderOutput) as { clusters: Array<{ name: string }> };
  return document.clusters.map((c) => c.name);
}

describe('render DIR and validate DIR', () => {
  it('render renders the folder it is given, not examples/', async () => {
    const result = await run(['render', mesh]);
    expect(result.code).toBe(0);
    const names = clusterNames(result.stdout);
    expect(names.some((name) => name.includes('inventory'))).toBe(true);
    expect(names.some((name) => name.includes('cart'))).toBe(false);
  });

  it('render --manifests DIR still works, and the same folder both ways is fine', async () => {
    expect(clusterNames((await run(['render', '--manifests', mesh])).stdout).some((n) => n.includes('inventory'))).toBe(true);
    expect((await run(['render', mesh, `--manifests=${mesh}/`])).code).toBe(0);
  });

  it('render --role proxyless --certificate-provider renders what a client with the workload certificate provider gets', async () => {
    const result = await run(['render', 'test/golden/proxyless-tls-strict', '--role', 'proxyless', '--certificate-provider']);
    expect(result.code).toBe(0);
    const document = JSON.parse(result.stdout) as {
      client: { group: string };
      clusters: Array<{ name: string; transport_socket?: unknown }>;
    };
    expect(document.client.group).toBe('proxyless+mtls');
    expect(document.clusters.find((c) => c.name === 'shop/reviews/9080')?.transport_socket).toBeDefined();
    const plain = JSON.parse((await run(['render', 'test/golden/proxyless-tls-strict', '--role', 'proxyless'])).stdout) as typeof document;
    expect(plain.clusters.find((c) => c.name === 'shop/reviews/9080')?.transport_socket).toBeUndefined();
  });

  it('refuses two different folders, naming both', async () => {
    const result = await run(['render', mesh, '--manifests', 'examples']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`switchyard render: two manifests folders given, ${mesh} and --manifests examples; give one\n`);
    const two = await run(['validate', mesh, 'examples']);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/^switchyard validate: takes one manifests folder, got 2/);
  });

  it('validate checks the folder given as argument or as --manifests', async () => {
    for (const argv of [
      ['validate', mesh],
      ['validate', '--manifests', mesh],
    ]) {
      const result = await run(argv);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`${mesh}: 3 objects, all valid`);
    }
  });

  it('serve refuses a folder together with --kubernetes before starting anything', async () => {
    const result = await run(['serve', mesh, '--kubernetes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--kubernetes exclude each other');
  });
});

describe('boolean flags', () => {
  const specs: FlagSpec[] = [
    { name: 'legacy-lb-policy', type: 'boolean', default: false, help: 'x' },
    { name: 'write-status', type: 'boolean', default: true, help: 'y' },
    { name: 'manifests', type: 'string', default: 'examples', help: 'z' },
  ];

  it.each([
    [['--legacy-lb-policy'], true],
    [['--legacy-lb-policy=true'], true],
    [['--legacy-lb-policy', 'yes'], true],
    [['--legacy-lb-policy=false'], false],
    [['--legacy-lb-policy', 'false'], false],
    [['--legacy-lb-policy', 'FALSE'], false],
    [['--no-legacy-lb-policy'], false],
    [[], false],
  ])('%j sets --legacy-lb-policy to %s', (argv, expected) => {
    expect(parseFlags(specs, argv as string[], {}).values.legacyLbPolicy).toBe(expected);
  });

  it('--no-flag turns off a flag that defaults on, and beats the environment', () => {
    expect(parseFlags(specs, ['--no-write-status'], { SWITCHYARD_WRITE_STATUS: 'true' }).values.writeStatus).toBe(false);
    expect(parseFlags(specs, ['--write-status=0'], {}).values.writeStatus).toBe(false);
  });

  it('takes only true/false words as a separate value, so a folder after a boolean flag stays a folder', () => {
    const parsed = parseFlags(specs, ['--legacy-lb-policy', 'mymesh'], {});
    expect(parsed.values.legacyLbPolicy).toBe(true);
    expect(parsed.positional).toEqual(['mymesh']);
  });

  it('refuses any other value, naming the flag', () => {
    expect(() => parseFlags(specs, ['--legacy-lb-policy=maybe'], {})).toThrow(
      'flag --legacy-lb-policy: expected true or false, got "maybe"',
    );
  });

  it("render --role sidecar --pod shows that pod's inbound side and group; a pod not in the folder gets the outbound side only", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-pod-'));
    writeFileSync(
      path.join(dir, 'web.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: shop }\nspec:\n  clusterIP: 10.96.0.5\n  selector: { app: web }\n' +
        '  ports: [{ name: http, port: 80, targetPort: 8080 }]\n---\n' +
        'apiVersion: v1\nkind: Pod\nmetadata: { name: web-1, namespace: shop, labels: { app: web } }\nspec:\n  containers: [{ name: web }]\nstatus: { podIP: 10.5.0.5 }\n',
    );
    const known = JSON.parse((await run(['render', dir, '--role', 'sidecar', '--pod', 'shop/web-1'])).stdout);
    expect(known.workload).toMatchObject({ pod: 'shop/web-1', known: true, ip: '10.5.0.5', ports: [{ port: 8080, protocol: 'http' }] });
    expect(known.listeners.map((l: { name: string }) => l.name)).toEqual(['inbound', 'outbound']);
    const unknown = JSON.parse((await run(['render', dir, '--role', 'sidecar', '--pod', 'shop/web-2'])).stdout);
    expect(unknown.workload).toEqual({ pod: 'shop/web-2', known: false });
    expect(unknown.listeners.map((l: { name: string }) => l.name)).toEqual(['outbound']);
    expect((await run(['render', dir, '--role', 'proxyless', '--pod', 'shop/web-1'])).code).toBe(2);
    expect((await run(['render', dir, '--pod', 'web-1'])).stderr).toContain('is not <namespace>/<name>');
  });

  it('render --legacy-lb-policy false renders load_balancing_policy (with lb_policy beside it), true only lb_policy', async () => {
    const on = await run(['render', mesh, '--legacy-lb-policy']);
    expect(on.stdout).toContain('"lb_policy": "RING_HASH"');
    expect(on.stdout).not.toContain('"load_balancing_policy"');
    for (const off of [['--legacy-lb-policy', 'false'], ['--legacy-lb-policy=false'], ['--no-legacy-lb-policy']]) {
      const result = await run(['render', mesh, ...off]);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('"load_balancing_policy"');
      expect(result.stdout).toContain('"lb_policy": "RING_HASH"');
    }
  });
});

describe('unknown flags, commands and arguments', () => {
  it.each(['serve', 'status', 'render', 'validate'])('%s -x exits 2', async (command) => {
    const result = await run([command, '-x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`switchyard ${command}: unknown option '-x'\nrun 'switchyard ${command} --help' for its flags\n`);
  });

  it('a mistyped flag gets a suggestion, not a list of every flag', async () => {
    const result = await run(['serve', '--xds-prot', '18001']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "switchyard serve: unknown option '--xds-prot' (did you mean --xds-port?)\nrun 'switchyard serve --help' for its flags\n",
    );
  });

  it('a mistyped command gets a suggestion', async () => {
    const result = await run(['rendr', 'examples']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'rendr' (did you mean render?)");
  });

  it('a stray argument to status exits 2 with what was probably meant', async () => {
    const address = await run(['status', '127.0.0.1:19001']);
    expect(address.code).toBe(2);
    expect(address.stderr).toBe(
      'switchyard status: unexpected argument "127.0.0.1:19001" (did you mean --admin 127.0.0.1:19001?); status takes only flags\n',
    );
    const flag = await run(['status', 'timeout-ms']);
    expect(flag.stderr).toContain('(did you mean --timeout-ms?)');
  });

  it('no command prints the commands on stderr and exits 2', async () => {
    const result = await run([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Commands:');
  });
});

describe('--version', () => {
  it.each([['--version'], ['-V']])("%s prints package.json's version", async (flag) => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await run([flag]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });
});

describe('help', () => {
  /** The help's option entries, each with its wrapped lines joined. */
  function optionEntries(help: string): string[] {
    const entries: string[] = [];
    let inOptions = false;
    for (const line of help.split('\n')) {
      if (line === 'Options:') inOptions = true;
      else if (inOptions && /^ {2}-/.test(line)) entries.push(line.trim());
      else if (inOptions && /^ {3,}\S/.test(line)) entries[entries.length - 1] += ' ' + line.trim();
      else if (inOptions && line.trim() === '') inOptions = false;
    }
    return entries;
  }

  it.each(['serve', 'render', 'validate', 'status'])(
    '%s --help shows at most one default per flag, never an empty one',
    async (command) => {
      const result = await run([command, '--help']);
      expect(result.code).toBe(0);
      const entries = optionEntries(result.stdout);
      expect(entries.length).toBeGreaterThan(3);
      for (const entry of entries) {
        expect([entry, (entry.match(/default/g) ?? []).length <= 1]).toEqual([entry, true]);
        expect(entry).not.toMatch(/\(default: ?\)/);
      }
    },
  );

  it('says the defaults that need words, and none for flags without one', async () => {
    const entries = optionEntries((await run(['serve', '--help'])).stdout);
    const entry = (flag: string) => entries.find((e) => e.startsWith(`--${flag} `)) ?? '';
    expect(entry('namespaces')).toMatch(/\(default: all\)$/);
    expect(entry('xds-port')).toMatch(/\(default: 18000\)$/);
    expect(entry('label-selector')).not.toContain('default');
    expect(entry('legacy-lb-policy')).not.toContain('default');
    expect(entry('write-status')).toContain('(default: on; --no-write-status turns it off)');
    expect(entry('log-format')).toContain('(default: text when standard error is a terminal, else json)');
  });
});

describe('status --admin', () => {
  it('exits 2 for an address that is not host:port, naming the flag', async () => {
    const result = await run(['status', '--admin', 'localhost']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'switchyard status: flag --admin: expected host:port of the admin server, e.g. 127.0.0.1:19000, got "localhost"\n',
    );
  });
});

describe('--config', () => {
  function configFile(text: string): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'switchyard-config-')), 'switchyard.yaml');
    writeFileSync(file, text);
    return file;
  }

  it('one file serves every command: keys of other commands are ignored', async () => {
    const file = configFile(`xds-port: 18001\nadmin-port: 19001\nrole: proxyless\nmanifests: ${mesh}\nadmin: 127.0.0.1:1\n`);
    const rendered = await run(['render', '--config', file]);
    expect(rendered.code).toBe(0);
    // From the file: the folder, and the proxyless role (whose listeners are API listeners).
    expect(clusterNames(rendered.stdout).some((n) => n.includes('inventory'))).toBe(true);
    expect(rendered.stdout).toContain('"api_listener"');
    const validated = await run(['validate'], { SWITCHYARD_CONFIG: file });
    expect(validated.code).toBe(0);
    expect(validated.stdout).toContain(`${mesh}: 3 objects, all valid`);
  });

  it('a key no command knows is an error naming it, with a suggestion', async () => {
    const file = configFile('xds-prot: 18001\n');
    const result = await run(['render', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`--config ${file}: unknown setting "xds-prot" (did you mean "xds-port"?)`);
  });

  it('keeps the precedence flag > environment > file > default', () => {
    const specs: FlagSpec[] = [
      { name: 'xds-port', type: 'int', default: 18000, help: 'a' },
      { name: 'admin-port', type: 'int', default: 19000, help: 'b' },
      { name: 'debounce-max-ms', type: 'int', default: 250, help: 'c' },
      { name: 'debounce-quiet-ms', type: 'int', default: 20, help: 'd' },
    ];
    const file = configFile('xds-port: 1\nadmin-port: 2\ndebounce-max-ms: 3\n');
    const parsed = parseFlags(specs, ['--config', file, '--xds-port', '10'], { SWITCHYARD_XDS_PORT: '20', SWITCHYARD_ADMIN_PORT: '30' });
    expect(parsed.values).toEqual({ xdsPort: 10, adminPort: 30, debounceMaxMs: 3, debounceQuietMs: 20 });
    expect(parsed.sources).toEqual({ xdsPort: 'flag', adminPort: 'environment', debounceMaxMs: 'config file', debounceQuietMs: 'default' });
  });

  it('a bad value in the file names the file and the flag', async () => {
    const file = configFile('outbound-port: http\n');
    const result = await run(['render', mesh, '--config', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`switchyard render: config file ${file}: --outbound-port: expected a whole number, got "http"\n`);
  });
});
