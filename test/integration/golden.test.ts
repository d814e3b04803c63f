// Golden pairs: every folder under test/golden/ is one translator case — its input manifests and
// the exact configuration each proxy role gets from them, with the TrafficPolicy statuses and
// problems they produce. A change to the translator shows up as a diff of these files.
// Regenerate deliberately (rewrites outputs, removes orphans):  UPDATE_GOLDEN=1 npx jest golden
// How to add a case: test/golden/README.md.
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifestDir } from '../../src/sources/files.js';
import { MeshModel } from '../../src/model/index.js';
import { translateAll, translateGateway, translateInbound } from '../../src/translate/index.js';
import { translateOptions, type TranslateOptions } from '../../src/translate/options.js';
import { danglingReferences, describeDangling, duplicateChainMatches, type GroupResources } from '../../src/translate/consistency.js';
import { decodeMessage, encodeMessage, encodeThroughMessages, messageType, type XdsResource } from '../../src/envoy/protos.js';
import { encodeDirect } from '../../src/envoy/direct-encode.js';
import { describeViolation, validateResource } from '../../src/envoy/validation-rules.js';
import { renderModel, type RenderOptions } from '../../src/cli/render.js';
import { clientProfile, parseClientLabel, parseMeshGroup, servedShape } from '../../src/clients/index.js';
import type { SourceEvent } from '../../src/sources/types.js';
import type { ManifestError } from '../../src/sources/manifests.js';
import { analyze, SourceRecords } from '../../src/analysis/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const goldenRoot = path.join(repoRoot, 'test', 'golden');
const updating = process.env.UPDATE_GOLDEN === '1';

/** case.json: everything optional. */
interface CaseSettings {
  /** What the case shows (for the reader; not used). */
  description?: string;
  /** A manifest folder, relative to the repository root, read before input.yaml (e.g. "examples"). */
  manifests?: string;
  /** Mesh roles to render; default both. */
  roles?: Array<'sidecar' | 'proxyless'>;
  /** Gateways to render; default ["edge"] when the input has an Ingress, else none. */
  gateways?: string[];
  /** Translator settings, as `serve` flags set them (legacyLbPolicy, captureOriginalDst, ...). */
  translate?: Partial<TranslateOptions>;
  /** Client profiles rendered beside a role's default, as `render --client` names them: {"proxyless": ["grpc-core/1.51.1"]}. */
  clients?: Partial<Record<'sidecar' | 'proxyless', string[]>>;
  /** Pods (`<namespace>/<name>`) whose sidecar is rendered beside the role's, as `render --pod` does: `sidecar@pod-<ns>-<name>.json`. */
  pods?: string[];
  /** Also render proxyless clients with the `workload` certificate provider, as `render --certificate-provider` does: `proxyless+mtls.json`. */
  certificateProvider?: boolean;
}

const INPUT = 'input.yaml';
const SETTINGS = 'case.json';

interface Output {
  file: string;
  text: string;
}

interface RenderedCase {
  outputs: Output[];
  /** Each proxy group's resources, for the checks that run over every output. */
  groups: Array<{ file: string; resources: GroupResources }>;
}

function caseNames(): string[] {
  return readdirSync(goldenRoot)
    .filter((name) => statSync(path.join(goldenRoot, name)).isDirectory())
    .sort();
}

/** Manifest paths in messages, relative to the repository root (stable across checkouts). */
function relative(dir: string): string {
  return path.relative(repoRoot, dir) || '.';
}

async function loadCase(dir: string, settings: CaseSettings): Promise<{ events: SourceEvent[]; problems: ManifestError[] }> {
  const events: SourceEvent[] = [];
  const problems: ManifestError[] = [];
  const cwd = process.cwd();
  // Load with paths relative to the repository root, so problem messages name `test/golden/<case>/input.yaml:7`.
  process.chdir(repoRoot);
  try {
    for (const folder of [settings.manifests, existsSync(path.join(dir, INPUT)) ? relative(dir) : undefined]) {
      if (folder === undefined) continue;
      const loaded = await loadManifestDir(folder);
      events.push(...loaded.events);
      problems.push(...loaded.problems);
    }
  } finally {
    process.chdir(cwd);
  }
  return { events, problems };
}

function text(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

async function renderCase(name: string): Promise<RenderedCase> {
  const dir = path.join(goldenRoot, name);
  const settingsFile = path.join(dir, SETTINGS);
  const settings: CaseSettings = existsSync(settingsFile) ? JSON.parse(readFileSync(settingsFile, 'utf8')) : {};
  if (!settings.manifests && !existsSync(path.join(dir, INPUT)))
    throw new Error(`test/golden/${name}: has neither ${INPUT} nor "manifests" in ${SETTINGS}`);
  const { events, problems } = await loadCase(dir, settings);
  const translate = translateOptions(settings.translate);
  const model = new MeshModel({ defaultMtls: translate.mtlsMode });
  model.apply(events);
  const outputs: Output[] = [];
  const groups: RenderedCase['groups'] = [];

  for (const role of settings.roles ?? (['sidecar', 'proxyless'] as const)) {
    const file = `${role}.json`;
    outputs.push({ file, text: text(renderModel(model, { role, translate } satisfies RenderOptions)) });
    groups.push({ file, resources: translateAll(model, role, translate) });
    // Client profiles: what `render --client` prints for each client the case names, with the
    // client's group and degradations; its resources go through the same checks.
    for (const label of settings.clients?.[role] ?? []) {
      const client = parseClientLabel(label);
      const shape = servedShape(clientProfile(client), role);
      const profileFile = `${role}@${label.replaceAll('/', '-')}.json`;
      outputs.push({ file: profileFile, text: text(renderModel(model, { role, translate, client })) });
      groups.push({ file: profileFile, resources: translateAll(model, role, { ...translate, served: shape }) });
    }
  }
  if (settings.certificateProvider) {
    const file = 'proxyless+mtls.json';
    outputs.push({ file, text: text(renderModel(model, { role: 'proxyless', translate, certificateProvider: true })) });
    groups.push({ file, resources: translateAll(model, 'proxyless', { ...translate, served: parseMeshGroup('proxyless+mtls')!.shape }) });
  }
  for (const pod of settings.pods ?? []) {
    const file = `sidecar@pod-${pod.replace('/', '-')}.json`;
    outputs.push({ file, text: text(renderModel(model, { role: 'sidecar', translate, pod })) });
    const [namespace, name] = pod.split('/');
    const workload = model.workload(namespace, name);
    const scope = model.egressScope(namespace);
    const resources = translateAll(model, 'sidecar', { ...translate, ...(scope ? { reach: model.scopeReach(scope) } : {}) });
    if (workload) {
      const inbound = translateInbound(model.workloadShape(workload), translate);
      resources.listeners.push(...inbound.listeners);
      resources.clusters.push(...inbound.clusters);
      resources.routes.push(...inbound.routes);
    }
    groups.push({ file, resources });
  }
  const hasIngress = events.some((e) => e.ref.kind === 'Ingress');
  // Gateway API Gateways of ours are rendered by default too, as `<namespace>/<name>`.
  const gatewayApiKeys = model.gatewayApiGateways().map((g) => g.key);
  for (const gateway of settings.gateways ?? [...(hasIngress ? ['edge'] : []), ...gatewayApiKeys]) {
    const file = `gateway-${gateway.replaceAll('/', '_')}.json`;
    outputs.push({ file, text: text(renderModel(model, { role: 'gateway', gateway, translate })) });
    groups.push({ file, resources: translateGateway(model, gateway, translate) });
  }

  const statuses = model.policyStatuses().map((status) => ({
    ...status,
    conditions: status.conditions.map(({ lastTransitionTime: _ignored, ...condition }) => condition),
  }));
  // Gateway API statuses only where the case has Gateway API objects, so other cases stay as they were.
  const gatewayApi = model.gatewayApiStatus();
  const hasGatewayApi = events.some((e) => ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'ReferenceGrant'].includes(e.ref.kind));
  // AccessPolicy statuses likewise only where the case has AccessPolicies.
  const accessPolicies = model.accessPolicyStatuses();
  outputs.push({
    file: 'status.json',
    text: text({
      trafficPolicies: statuses,
      ...(accessPolicies.length > 0 ? { accessPolicies } : {}),
      ...(hasGatewayApi ? { gatewayApi: gatewayApiStatusView(gatewayApi) } : {}),
    }),
  });
  // The one analysis's problems, as validate and serve report them (src/analysis/, docs/problems.md).
  const records = new SourceRecords();
  records.apply(events);
  outputs.push({ file: 'problems.json', text: text(analyze({ model, records, sourceProblems: problems, options: translate })) });
  return { outputs, groups };
}

/** The statuses Switchyard writes to Gateway API objects: the model's view (in a cluster, NACKs and a missing address come on top). */
function gatewayApiStatusView(resolution: ReturnType<MeshModel['gatewayApiStatus']>): unknown {
  return {
    gatewayClasses: resolution.classes,
    gateways: resolution.gateways.map((g) => ({
      gateway: g.key,
      addresses: g.addresses,
      conditions: g.conditions,
      listeners: g.listenerStatuses,
    })),
    routes: resolution.routes.map((r) => ({ route: `${r.kind} ${r.namespace}/${r.name}`, parents: r.parents })),
  };
}

/** Every resource encodes with Envoy's protos and decodes to the same bytes again: nothing unknown, nothing lost.
 * The direct encoder takes it (translator form and decoded form) and writes protobufjs' own bytes. */
function roundTripErrors(resources: XdsResource[]): string[] {
  const errors: string[] = [];
  for (const resource of resources) {
    try {
      const bytes = encodeMessage(resource.typeUrl, resource.value);
      const decoded = decodeMessage(resource.typeUrl, bytes);
      const again = encodeMessage(resource.typeUrl, decoded);
      if (!Buffer.from(again).equals(Buffer.from(bytes)))
        errors.push(`${resource.name}: re-encoding the decoded message gives other bytes`);
      // A resource that writes its own bytes (an assignment) writes these very bytes, and takes
      // that path for every golden case (each passes the rules), so its shortcut is what they check.
      if (resource.encode) {
        const own = resource.encode();
        if (!own) errors.push(`${resource.name}: it left its own encoding to the general path`);
        else if (!Buffer.from(own).equals(Buffer.from(bytes))) errors.push(`${resource.name}: its own bytes differ from encodeMessage's`);
      }
      const type = messageType(resource.typeUrl);
      for (const [form, value] of [
        ['translated', resource.value],
        ['decoded', decoded],
      ] as const) {
        const direct = encodeDirect(type, value, messageType);
        if (!direct) errors.push(`${resource.name} (${form}): the direct encoder left it to fromObject`);
        else if (!Buffer.from(direct).equals(Buffer.from(encodeThroughMessages(type, value))))
          errors.push(`${resource.name} (${form}): the direct encoder's bytes differ from protobufjs' fromObject + encode`);
      }
    } catch (error) {
      errors.push(`${resource.name}: ${(error as Error).message}`);
    }
  }
  return errors;
}

function allOf(group: GroupResources): XdsResource[] {
  return [...group.clusters, ...group.endpoints, ...group.routes, ...group.listeners, ...group.secrets];
}

const cases = caseNames();

describe('golden pairs', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  // One test per case, translating inside the test: Stryker's per-test coverage credits a line
  // only to the test running when it ran, so a translation in a `beforeAll` would let no golden
  // pair count against a mutant (docs/testing.md). Each check still reports which one failed.
  it.each(cases)("%s: matches every expected output, is consistent, and passes Envoy's protos and validation rules", async (name) => {
    const dir = path.join(goldenRoot, name);
    const rendered = await renderCase(name);
    const expected = new Set([INPUT, SETTINGS, 'README.md', ...rendered.outputs.map((o) => o.file)]);
    if (updating) {
      for (const { file, text: content } of rendered.outputs) writeFileSync(path.join(dir, file), content);
      for (const file of readdirSync(dir)) if (!expected.has(file)) rmSync(path.join(dir, file));
    }

    // Every expected output matches, and no output the case no longer produces is left.
    for (const { file, text: content } of rendered.outputs) {
      const golden = path.join(dir, file);
      if (!existsSync(golden)) throw new Error(`test/golden/${name}/${file} is missing; run UPDATE_GOLDEN=1 to write it`);
      expect({ file, output: JSON.parse(content) }).toEqual({ file, output: JSON.parse(readFileSync(golden, 'utf8')) });
    }
    const orphans = readdirSync(dir).filter((file) => !expected.has(file));
    expect({ orphans }).toEqual({ orphans: [] });
    // Rendered files are shared and reviewed: a TLS key must never be written into one.
    for (const { file, text: content } of rendered.outputs)
      expect({ file, key: content.includes('PRIVATE KEY') }).toEqual({ file, key: false });

    for (const { file, resources } of rendered.groups) {
      // Consistent: every cluster, assignment, route configuration and secret a resource names exists in its group.
      expect({ file, dangling: danglingReferences(resources).map(describeDangling) }).toEqual({ file, dangling: [] });
      // No two filter chains of a listener with the same match (Envoy rejects the listener).
      expect({ file, duplicates: resources.listeners.flatMap(duplicateChainMatches) }).toEqual({ file, duplicates: [] });
      // Envoy's protos (encode, decode, same bytes; the direct encoder agrees) and validation rules.
      expect({ file, errors: roundTripErrors(allOf(resources)) }).toEqual({ file, errors: [] });
      const violations = allOf(resources).flatMap((r) =>
        validateResource(r.typeUrl, r.value).map((v) => describeViolation(r.typeUrl, r.name, v)),
      );
      expect({ file, violations }).toEqual({ file, violations: [] });
    }
  });
});
