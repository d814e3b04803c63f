// One diagnosis everywhere: `validate`, `serve` (/debug/problems, the problems gauge, the
// tracker's appear/fixed events) and `render` report the same problems for the same folder of
// known mistakes (test/fixtures/mistakes/), at the lines of the fields.
import { jest } from '@jest/globals';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { render, validate } from '../../src/cli/render.js';
import { FilesSource } from '../../src/sources/files.js';
import type { Problem } from '../../src/analysis/problem.js';

const MISTAKES = path.relative(process.cwd(), path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/mistakes'));

/** What every mistake in the folder must produce: code, object, file and line of the field. */
const EXPECTED = [
  'endpoints.yaml:10 EndpointPortUnmatched EndpointSlice shop/web-abc12 ports[0].name',
  'endpoints.yaml:22 EndpointSliceServiceNotFound EndpointSlice shop/search-xyz34 metadata.labels["kubernetes.io/service-name"]',
  'ingress.yaml:9 IngressSecretNotFound Ingress shop/storefront spec.tls[0].secretName',
  'ingress.yaml:21 IngressPortNotFound Ingress shop/storefront spec.rules[0].http.paths[0].backend.service.port.number',
  'ingress.yaml:27 IngressServiceNotFound Ingress shop/storefront spec.rules[0].http.paths[1].backend.service.name',
  'kinds.yaml:3 UnknownKind Sevice shop/payments kind',
  'kinds.yaml:10 KindNotRead Deployment shop/web kind',
  'policies.yaml:9 SchemaViolation TrafficPolicy shop/web spec.retries.perTryTimout',
  'policies.yaml:18 WeightsNotHundred TrafficPolicy shop/api spec.split',
  'policies.yaml:28 PolicyConflict TrafficPolicy shop/api-retries spec.targetRef.name',
  'policies.yaml:36 PolicyTargetNotFound TrafficPolicy shop/search spec.targetRef.name',
  'services.yaml:38 OutboundAddressConflict Service shop/users-db spec.ports[0].port',
  'syntax.yaml:8 YamlSyntaxError File ' + path.join(MISTAKES, 'syntax.yaml') + ' -',
  'web-again.yaml:2 DuplicateObject Service shop/web -',
];

function summary(problem: Problem): string {
  const o = problem.object;
  return `${path.basename(problem.file ?? '?')}:${problem.line} ${problem.code} ${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name} ${problem.field ?? '-'}`;
}

/** Runs `body` with stdout and stderr captured. */
async function captured<T>(body: () => Promise<T>): Promise<{ result: T; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    return { result: await body(), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

async function validateJson(dir: string): Promise<{ code: number; problems: Problem[] }> {
  const { result, stdout } = await captured(() => validate(dir, { output: 'json' }));
  return { code: result, problems: (JSON.parse(stdout) as { problems: Problem[] }).problems };
}

async function debugProblems(app: Switchyard): Promise<Problem[]> {
  const response = await fetch(`http://127.0.0.1:${app.adminPort}/debug/problems`);
  expect(response.status).toBe(200);
  return (await response.json()) as Problem[];
}

describe('one diagnosis for validate, serve and render', () => {
  let app: Switchyard | undefined;
  let tmp: string | undefined;

  afterEach(async () => {
    await app?.stop();
    app = undefined;
    if (tmp) await rm(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  it('validate finds every known mistake at the line of its field, and exits 1', async () => {
    const { code, problems } = await validateJson(MISTAKES);
    expect(code).toBe(1);
    expect(problems.map(summary)).toEqual(EXPECTED);
    for (const problem of problems) {
      expect(problem.message.length).toBeGreaterThan(20);
      expect(problem.fix.length).toBeGreaterThan(10);
    }
  });

  it('serve reports exactly what validate reports: /debug/problems and the problems gauge', async () => {
    const fromValidate = (await validateJson(MISTAKES)).problems;
    app = await startSwitchyard({ sources: [new FilesSource(MISTAKES, { watch: false, rescanIntervalMs: 0 })], xdsPort: 0, adminPort: 0 });
    await app.ready;
    expect(await debugProblems(app)).toEqual(fromValidate);
    const metrics = await (await fetch(`http://127.0.0.1:${app.adminPort}/metrics`)).text();
    expect(metrics).toContain('switchyard_config_problems{code="PolicyConflict",severity="error"} 1');
    expect(metrics).toContain('switchyard_config_problems{code="WeightsNotHundred",severity="warning"} 1');
    expect(metrics).toContain('switchyard_config_problems{code="KindNotRead",severity="info"} 1');
  });

  it('serve tells when a problem is fixed, and when a file-only problem (YAML syntax) goes away', async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'switchyard-problems-'));
    await cp(MISTAKES, tmp, { recursive: true });
    const source = new FilesSource(tmp, { watch: false, rescanIntervalMs: 0 });
    app = await startSwitchyard({ sources: [source], xdsPort: 0, adminPort: 0, debounce: { quietMs: 1, maxMs: 5 } });
    await app.ready;
    const changes: Array<{ added: string[]; removed: string[] }> = [];
    app.pipeline.problemTracker.on('problemsChanged', (added, removed) =>
      changes.push({ added: added.map((p) => p.code), removed: removed.map((p) => p.code) }),
    );

    const policies = path.join(tmp, 'policies.yaml');
    await writeFile(policies, (await readFile(policies, 'utf8')).replace('weight: 20', 'weight: 10'));
    await source.rescan();
    await waitFor(() => changes.length > 0);
    expect(changes).toEqual([{ added: [], removed: ['WeightsNotHundred'] }]);

    // A syntax error fixed changes no object the file had served: the source says its problems changed.
    await writeFile(
      path.join(tmp, 'syntax.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: { name: fixed, namespace: shop }\nspec:\n  ports: [{ port: 81, appProtocol: http }]\n',
    );
    await source.rescan();
    await waitFor(() => changes.length > 1);
    expect(changes[1].removed).toEqual(['YamlSyntaxError']);
    const codes = (await debugProblems(app)).map((p) => p.code);
    expect(codes).not.toContain('WeightsNotHundred');
    expect(codes).not.toContain('YamlSyntaxError');
    expect(codes).toContain('PolicyConflict');

    // Lines added above objects move their problems, though no object changed: serve follows, as validate would.
    for (const name of ['ingress.yaml', 'policies.yaml']) {
      const file = path.join(tmp, name);
      await writeFile(file, `# moved down\n# two lines\n${await readFile(file, 'utf8')}`);
    }
    await source.rescan();
    const expected = (await validateJson(tmp)).problems;
    expect(expected.find((p) => p.code === 'IngressServiceNotFound')?.line).toBe(29);
    await waitFor(async () => JSON.stringify(await debugProblems(app!)) === JSON.stringify(expected));
  });

  it('render prints the same problems on stderr and only JSON on stdout, naming policies not applied', async () => {
    const fromValidate = (await validateJson(MISTAKES)).problems;
    const { result, stdout, stderr } = await captured(() => render({ manifests: MISTAKES, role: 'sidecar' }));
    expect(result).toBe(0);
    const document = JSON.parse(stdout) as { loadBalancing: Array<{ service: string; reason: string; policiesNotApplied?: string[] }> };
    for (const problem of fromValidate) expect(stderr).toContain(`${problem.file}:${problem.line}: ${problem.severity} ${problem.code}:`);
    const web = document.loadBalancing.find((entry) => entry.service === 'shop/web');
    // The rejected policy is named beside "Auto (no TrafficPolicy)".
    expect(web?.policiesNotApplied).toEqual(['TrafficPolicy shop/web: SchemaViolation']);
    const api = document.loadBalancing.find((entry) => entry.service === 'shop/api');
    expect(api?.policiesNotApplied).toEqual(['TrafficPolicy shop/api-retries: PolicyConflict']);
  });
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
