// The analysis, one mistake at a time: each case is a small folder written to a temp dir and
// read as `validate` reads it, so the lines are the lines a user sees.
import { jest } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  analyze,
  analyzeManifestDir,
  PROBLEM_CODES,
  ProblemTracker,
  scaleTo100,
  SourceRecords,
  type Problem,
} from '../../src/analysis/index.js';
import { Analysis } from '../../src/analysis/analyze.js';
import { parseDuration } from '../../src/model/duration.js';
import { MeshModel } from '../../src/model/index.js';
import { loadManifestDir } from '../../src/sources/files.js';
import { validateObject } from '../../src/sources/manifests.js';
import { validate } from '../../src/cli/render.js';
import { log } from '../../src/log.js';

const SERVICE = (name: string, ports = '[{ name: http, port: 80, appProtocol: http }]', clusterIP?: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: shop }\nspec:\n  ports: ${ports}\n${clusterIP ? `  clusterIP: ${clusterIP}\n` : ''}`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-analysis-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function problemsOf(files: Record<string, string>): Promise<Problem[]> {
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return (await analyzeManifestDir(dir)).problems;
}

const brief = (p: Problem) => `${p.code} ${p.object.kind} ${p.object.name} ${p.field ?? '-'} :${p.line}`;

describe('field lines', () => {
  it('reports a typo at the line of the field, not the line the document starts on', async () => {
    const policy = [
      'apiVersion: switchyard.dev/v1alpha1', // 1
      'kind: TrafficPolicy',
      'metadata:',
      '  name: web',
      '  namespace: shop',
      'spec:',
      '  targetRef: { name: web }',
      '  timeuot: 5s', // 8
    ].join('\n');
    const problems = await problemsOf({ 'a.yaml': SERVICE('web'), 'b.yaml': policy });
    expect(problems.map(brief)).toEqual(['SchemaViolation TrafficPolicy web spec.timeuot :8']);
    expect(problems[0].fix).toMatch(/^did you mean timeout\?/);
  });

  it('places a missing field at its parent, and a List item field inside its item', async () => {
    const list = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '  - apiVersion: v1',
      '    kind: Service',
      '    metadata: { name: a, namespace: shop }',
      '    spec:',
      '      ports:',
      '        - { name: http, port: 0 }', // 9
    ].join('\n');
    const policy =
      'apiVersion: switchyard.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: p, namespace: shop }\nspec:\n  loadBalancer: { policy: Maglev }\n';
    const problems = await problemsOf({ 'list.yaml': list, 'p.yaml': policy });
    expect(problems.map(brief)).toEqual([
      'SchemaViolation Service a spec.ports[0].port :9',
      // spec.targetRef is missing: reported on the line of spec.
      'SchemaViolation TrafficPolicy p spec.targetRef :4',
    ]);
  });
});

describe('durations as Go writes them', () => {
  it.each(['1.5s', '250ms', '1m30s', '2h', '.5s', '0', '1h2m3.5s', '100us'])('accepts %s in the CRD schema and the model', (value) => {
    const policy = {
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: { name: 'p', namespace: 'shop' },
      spec: { targetRef: { name: 'web' }, timeout: value },
    };
    expect(validateObject(policy)).toEqual([]);
    expect(parseDuration(value)).toBeDefined();
  });

  it('reads the values right', () => {
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('.5s')).toBe(500);
  });

  it.each(['5 seconds', '1d', '-1s', 's', '1.5', ''])('refuses %j', (value) => {
    const policy = {
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: { name: 'p', namespace: 'shop' },
      spec: { targetRef: { name: 'web' }, timeout: value },
    };
    expect(validateObject(policy).join()).toMatch(/spec\.timeout: must be a duration/);
    expect(parseDuration(value)).toBeUndefined();
  });
});

describe('kinds', () => {
  it('says "did you mean" for a near miss of a kind Switchyard reads, and notes other kinds', async () => {
    const problems = await problemsOf({
      'a.yaml':
        SERVICE('web').replace('kind: Service', 'kind: Sevice') +
        '---\n' +
        SERVICE('api').replace('kind: Service', 'kind: trafficpolicies') +
        '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\n',
    });
    expect(problems.map((p) => [p.code, p.severity, p.line])).toEqual([
      ['UnknownKind', 'warning', 2],
      ['UnknownKind', 'warning', 8],
      ['KindNotRead', 'info', 14],
    ]);
    expect(problems[0].fix).toBe('write kind: Service');
    expect(problems[1].fix).toBe('write kind: TrafficPolicy');
  });
});

describe('TrafficPolicy', () => {
  const policy = (name: string, spec: string) =>
    `apiVersion: switchyard.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: ${name}, namespace: shop }\nspec:\n${spec}`;

  it('warns when split weights do not sum to 100, and says the shares served', async () => {
    const problems = await problemsOf({
      's.yaml': SERVICE('api') + '---\n' + SERVICE('api-v2'),
      'p.yaml': policy(
        'api',
        '  targetRef: { name: api }\n  split:\n    - { backend: api, weight: 90 }\n    - { backend: api-v2, weight: 20 }\n',
      ),
    });
    expect(problems.map(brief)).toEqual(['WeightsNotHundred TrafficPolicy api spec.split :6']);
    expect(problems[0].severity).toBe('warning');
    expect(problems[0].message).toContain('weights sum to 110, not 100; traffic is shared in proportion: api 81.8%, api-v2 18.2%');
    expect(problems[0].fix).toContain('82, 18');
  });

  it('warns about a connection limit on a Service with HTTP ports only, and is quiet when it has a TCP port', async () => {
    const problems = await problemsOf({
      's.yaml': SERVICE('api') + '---\n' + SERVICE('db', '[{ name: pg, port: 5432 }]'),
      'p.yaml':
        policy('api', '  targetRef: { name: api }\n  rateLimit: { connections: { perSecond: 5 } }\n') +
        '---\n' +
        policy('db', '  targetRef: { name: db }\n  rateLimit: { connections: { perSecond: 5 } }\n'),
    });
    expect(problems.map(brief)).toEqual(['ConnectionLimitUnused TrafficPolicy api spec.rateLimit.connections :6']);
    expect(problems[0].severity).toBe('warning');
    expect(problems[0].message).toBe(
      'TrafficPolicy shop/api: spec.rateLimit.connections: Service shop/api has no TCP port (80 (http)); ' +
        'connection limits apply to TCP ports only, so this one limits nothing',
    );
  });

  it('is quiet about weights that sum to 100', async () => {
    const problems = await problemsOf({
      's.yaml': SERVICE('api') + '---\n' + SERVICE('api-v2'),
      'p.yaml': policy(
        'api',
        '  targetRef: { name: api }\n  split:\n    - { backend: api, weight: 90 }\n    - { backend: api-v2, weight: 10 }\n',
      ),
    });
    expect(problems).toEqual([]);
  });

  it('scales weights to 100 keeping the proportion', () => {
    expect(scaleTo100([90, 20])).toEqual([82, 18]);
    expect(scaleTo100([1, 1, 1])).toEqual([34, 33, 33]);
  });

  it('gives an invalid policy whose Service exists a reason that is not TargetNotFound', async () => {
    for (const [name, text] of Object.entries({
      's.yaml': SERVICE('web'),
      'p.yaml': policy('web', '  targetRef: { name: web }\n  timeout: 5 seconds\n'),
    })) {
      await writeFile(path.join(dir, name), text);
    }
    const { events } = await loadManifestDir(dir);
    const model = new MeshModel();
    model.apply(events);
    const reasons = model.policyStatus('shop', 'web')?.map((c) => `${c.type}=${c.status}/${c.reason}`);
    expect(reasons).toEqual(['Accepted=False/Invalid', 'Programmed=False/DefaultsInUse']);
    const { problems } = await analyzeManifestDir(dir);
    expect(problems.map(brief)).toEqual(['SchemaViolation TrafficPolicy web spec.timeout :6']);
  });

  it('reports a policy whose Service is missing, even when the policy is also invalid', async () => {
    const problems = await problemsOf({
      'p.yaml': policy('a', '  targetRef: { name: nope }\n') + '---\n' + policy('b', '  targetRef: { name: gone }\n  timeout: soon\n'),
    });
    expect(problems.map(brief)).toEqual([
      'PolicyTargetNotFound TrafficPolicy a spec.targetRef.name :5',
      'PolicyTargetNotFound TrafficPolicy b spec.targetRef.name :11',
      'SchemaViolation TrafficPolicy b spec.timeout :12',
    ]);
  });

  it('reports a second policy for one Service on the policy that is not applied', async () => {
    const problems = await problemsOf({
      's.yaml': SERVICE('web'),
      'p.yaml': policy('first', '  targetRef: { name: web }\n') + '---\n' + policy('second', '  targetRef: { name: web }\n'),
    });
    expect(problems.map(brief)).toEqual(['PolicyConflict TrafficPolicy second spec.targetRef.name :11']);
    expect(problems[0].message).toContain('TrafficPolicy shop/first');
  });

  it('reports a backend Service that does not exist, and a meaning Envoy cannot serve', async () => {
    const problems = await problemsOf({
      's.yaml': SERVICE('web'),
      'p.yaml': policy(
        'web',
        '  targetRef: { name: web }\n  split:\n    - { backend: web-v9, weight: 100 }\n  loadBalancer:\n    policy: LeastRequest\n    hashOn: [{ header: { name: x-user } }]\n',
      ),
    });
    expect(problems.map(brief)).toEqual([
      'PolicyBackendNotFound TrafficPolicy web spec.split[0].backend :7',
      'PolicyInvalid TrafficPolicy web spec.loadBalancer.hashOn :10',
    ]);
    expect(problems[1].fix).toContain('Service shop/web is served with the defaults');
  });
});

describe('Ingress', () => {
  const ingress = (backend: string, tls = '') =>
    `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: shop, namespace: shop }\nspec:\n  ingressClassName: switchyard\n${tls}  defaultBackend:\n    service:\n${backend}`;

  it('reports a missing Service, a missing port and a missing Secret at their fields', async () => {
    expect(
      (await problemsOf({ 's.yaml': SERVICE('web'), 'i.yaml': ingress('      name: nope\n      port: { number: 80 }\n') })).map(brief),
    ).toEqual(['IngressServiceNotFound Ingress shop spec.defaultBackend.service.name :8']);
    expect((await problemsOf({ 'i.yaml': ingress('      name: web\n      port: { name: grpc }\n') })).map(brief)).toEqual([
      'IngressPortNotFound Ingress shop spec.defaultBackend.service.port.name :9',
    ]);
    const tls = '  tls:\n    - hosts: [a.example.com]\n      secretName: missing\n';
    expect((await problemsOf({ 'i.yaml': ingress('      name: web\n      port: { number: 80 }\n', tls) })).map(brief)).toEqual([
      'IngressSecretNotFound Ingress shop spec.tls[0].secretName :8',
    ]);
  });

  it('reports a Secret that cannot serve TLS on the Secret', async () => {
    const tls = '  tls:\n    - secretName: plain\n';
    const secret = 'apiVersion: v1\nkind: Secret\nmetadata: { name: plain, namespace: shop }\ntype: Opaque\nstringData: { token: x }\n';
    const problems = await problemsOf({
      's.yaml': SERVICE('web'),
      'secret.yaml': secret,
      'i.yaml': ingress('      name: web\n      port: { number: 80 }\n', tls),
    });
    expect(problems.map(brief)).toEqual(['IngressSecretInvalid Secret plain type :4']);
  });

  it('leaves Ingresses of another class alone', async () => {
    const other = ingress('      name: nope\n      port: { number: 80 }\n').replace(
      'ingressClassName: switchyard',
      'ingressClassName: nginx',
    );
    expect(await problemsOf({ 'i.yaml': other })).toEqual([]);
  });
});

describe('Services and endpoints', () => {
  it('warns about two Services at one cluster IP and port, and not about two on one port at their own IPs', async () => {
    const tcp = '[{ name: db, port: 5432, appProtocol: tcp }]';
    const problems = await problemsOf({
      'a.yaml': SERVICE('a', tcp, '10.96.0.5'),
      'b.yaml': SERVICE('b', tcp, '10.96.0.5'),
      'c.yaml': SERVICE('c', tcp, '10.96.0.6'),
    });
    expect(problems.map(brief)).toEqual(['OutboundAddressConflict Service b spec.ports[0].port :5']);
    expect(problems[0].message).toContain('10.96.0.5:5432 is also port 5432 of Service shop/a');
  });

  it('warns about an EndpointSlice port that matches no Service port, and a slice of a missing Service', async () => {
    const slice = (name: string, service: string, port: string) =>
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ${name}\n  namespace: shop\n  labels: { kubernetes.io/service-name: ${service} }\naddressType: IPv4\nports:\n  - { name: ${port}, port: 8080 }\nendpoints:\n  - addresses: [10.0.0.1]\n`;
    const problems = await problemsOf({
      's.yaml': SERVICE('web'),
      'e.yaml': slice('web-1', 'web', 'grpc') + '---\n' + slice('x-1', 'x', 'http') + '---\n' + slice('web-2', 'web', 'http'),
    });
    expect(problems.map(brief)).toEqual([
      'EndpointPortUnmatched EndpointSlice web-1 ports[0].name :9',
      'EndpointSliceServiceNotFound EndpointSlice x-1 metadata.labels["kubernetes.io/service-name"] :18',
    ]);
  });
});

describe('Services and endpoints: ports without a number', () => {
  it('warns about an EndpointSlice port whose port is null ("all ports"), naming the field', async () => {
    const slice = `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  namespace: shop\n  labels: { kubernetes.io/service-name: web }\naddressType: IPv4\nports:\n  - { name: http, port: null }\nendpoints:\n  - addresses: [10.0.0.1]\n`;
    const problems = await problemsOf({ 's.yaml': SERVICE('web'), 'e.yaml': slice });
    expect(problems.map(brief)).toEqual(['EndpointPortWithoutNumber EndpointSlice web-1 ports[0].port :9']);
    expect(problems[0].message).toContain('all ports');
  });
});

describe('Analysis in a running control plane', () => {
  it('after a batch that changed only endpoints, re-checks those and gives what a whole analysis gives', async () => {
    const slice = (port: string) =>
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  namespace: shop\n  labels: { kubernetes.io/service-name: web }\naddressType: IPv4\nports:\n  - { name: ${port}, port: 8080 }\nendpoints:\n  - addresses: [10.0.0.1]\n`;
    await writeFile(
      path.join(dir, 's.yaml'),
      SERVICE('web') +
        '---\n' +
        SERVICE('db', '[{ name: db, port: 5432, appProtocol: tcp }]', '10.96.0.5') +
        '---\n' +
        SERVICE('db2', '[{ name: db, port: 5432, appProtocol: tcp }]', '10.96.0.5'),
    );
    await writeFile(path.join(dir, 'e.yaml'), slice('http'));
    const model = new MeshModel();
    const records = new SourceRecords();
    const analysis = new Analysis();
    const first = (await loadManifestDir(dir)).events;
    records.apply(first);
    expect(analysis.run({ model, records }, model.apply(first)).map((p) => p.code)).toEqual(['OutboundAddressConflict']);

    await writeFile(path.join(dir, 'e.yaml'), slice('grpc'));
    const next = (await loadManifestDir(dir)).events.filter((e) => e.ref.kind === 'EndpointSlice');
    records.apply(next);
    const change = model.apply(next);
    expect(change.services.size).toBe(0);
    const incremental = analysis.run({ model, records }, change);
    expect(incremental.map((p) => p.code)).toEqual(['EndpointPortUnmatched', 'OutboundAddressConflict']);
    expect(incremental).toEqual(analyze({ model, records }));
  });
});

describe('ProblemTracker', () => {
  const problem = (code: string, severity: Problem['severity'] = 'error'): Problem => ({
    code,
    severity,
    object: { kind: 'Service', namespace: 'shop', name: 'web' },
    message: `Service shop/web: ${code}`,
    fix: 'fix it',
  });

  it('logs a problem once when it appears and once when it is fixed, and tells listeners what changed', () => {
    const warn = jest.spyOn(log, 'warn').mockImplementation(() => log);
    const info = jest.spyOn(log, 'info').mockImplementation(() => log);
    try {
      const tracker = new ProblemTracker();
      const changes: Array<[string[], string[]]> = [];
      tracker.on('problemsChanged', (added, removed) => changes.push([added.map((p) => p.code), removed.map((p) => p.code)]));
      tracker.update([problem('A'), problem('B', 'warning')]);
      tracker.update([problem('A'), problem('B', 'warning')]);
      tracker.update([problem('B', 'warning')]);
      expect(changes).toEqual([
        [['A', 'B'], []],
        [[], ['A']],
      ]);
      expect(warn.mock.calls.map((call) => call[0])).toEqual(['configuration error: A', 'configuration warning: B']);
      expect(info.mock.calls.map((call) => call[0])).toEqual(['configuration problem fixed: A']);
      expect(tracker.problems().map((p) => p.code)).toEqual(['B']);
    } finally {
      warn.mockRestore();
      info.mockRestore();
    }
  });
});

describe('validate', () => {
  async function run(files: Record<string, string>, output?: string): Promise<{ code: number; stdout: string }> {
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    let stdout = '';
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
    try {
      return { code: await validate(dir, output ? { output } : {}), stdout };
    } finally {
      spy.mockRestore();
    }
  }

  it('exits 0 on warnings alone, and lists them grouped by file with file:line', async () => {
    const tcp = '[{ name: db, port: 5432, appProtocol: tcp }]';
    const { code, stdout } = await run({ 'a.yaml': SERVICE('a', tcp, '10.96.0.5'), 'b.yaml': SERVICE('b', tcp, '10.96.0.5') });
    expect(code).toBe(0);
    expect(stdout).toContain(`${path.join(dir, 'b.yaml')} (1 warning)\n${path.join(dir, 'b.yaml')}:5: warning OutboundAddressConflict: `);
    expect(stdout).toContain(`${dir}: 2 objects, 1 warning\n`);
  });

  it('exits 1 on errors, and prints JSON with --output json', async () => {
    const { code, stdout } = await run({ 'a.yaml': SERVICE('a').replace('port: 80', 'port: 0') }, 'json');
    expect(code).toBe(1);
    const document = JSON.parse(stdout) as { summary: Record<string, unknown>; problems: Problem[] };
    expect(document.summary).toEqual({ folder: dir, objects: 1, errors: 1, warnings: 0, notes: 0 });
    expect(document.problems.map(brief)).toEqual(['SchemaViolation Service a spec.ports[0].port :5']);
  });

  it('says all valid for a clean folder', async () => {
    const { code, stdout } = await run({ 'a.yaml': SERVICE('a') });
    expect(code).toBe(0);
    expect(stdout).toBe(`${dir}: 1 objects, all valid\n`);
  });
});

describe('docs/problems.md', () => {
  it('documents every code, each with an example and a fix, and no code that does not exist', async () => {
    const text = await readFile(path.resolve('docs/problems.md'), 'utf8');
    const documented = [...text.matchAll(/^### (\w+)/gm)].map((m) => m[1]);
    expect([...documented].sort()).toEqual(Object.keys(PROBLEM_CODES).sort());
    for (const code of documented) {
      const section = text.slice(text.indexOf(`### ${code}`)).split(/^### /m)[1];
      expect(section).toContain(`Severity: ${PROBLEM_CODES[code as keyof typeof PROBLEM_CODES]}`);
      expect(section).toMatch(/```yaml/);
      expect(section).toMatch(/\*\*Fix\*\*/);
    }
  });
});
