// `switchyard render` and `switchyard validate`: one-shot runs of the same sources, model and
// translator that `serve` uses, printing what a proxy would receive or what is wrong.
import type { MeshModel } from '../model/index.js';
import { analyzeManifestDir, countBySeverity, countText, formatProblems, type Problem, type SourceRecords } from '../analysis/index.js';
import type { TrafficPolicyObject } from '../sources/types.js';
import {
  translateAll,
  translateGateway,
  translateInbound,
  explainLbChoice,
  degradationsFor,
  translateOptions,
  type ProxyRole,
  type TranslateOptions,
} from '../translate/index.js';
import {
  baselineShape,
  clientProfile,
  describeClient,
  meshGroupName,
  parseClientLabel,
  servedShape,
  scopedGroupName,
  workloadGroupName,
  type ClientIdentity,
} from '../clients/index.js';
import { compare, describeScope } from '../model/index.js';
import { toProto3Json } from '../envoy/proto-json.js';
import type { XdsResource } from '../envoy/protos.js';
import { translateSettings, UsageError, type FlagValues } from './flags.js';
import { redactSecrets } from '../admin/config-dump.js';

function json(resources: XdsResource[]): unknown[] {
  return resources.map((r) => toProto3Json(r.typeUrl, r.value));
}

export interface RenderOptions {
  role: ProxyRole | 'gateway';
  /** With role gateway: the gateway's name. */
  gateway?: string;
  translate?: Partial<TranslateOptions>;
  /** Render what this client gets (mesh roles), with its group and degradations. */
  client?: ClientIdentity;
  /** With role sidecar: `<namespace>/<name>` of a Pod; its sidecar, within its egress scope, with its workload's inbound side. */
  pod?: string;
  /** With role proxyless: the client has the `workload` certificate provider (gets gRFC A29 TLS). */
  certificateProvider?: boolean;
}

/** Every resource a proxy of `role` would get from the manifests in `dir`, as config-dump JSON. */
export async function renderDocument(dir: string, options: RenderOptions): Promise<Record<string, unknown>> {
  return (await renderWithProblems(dir, options)).document;
}

/** The rendered resources and the analysis's problems of the same folder. */
async function renderWithProblems(
  dir: string,
  options: RenderOptions,
): Promise<{ document: Record<string, unknown>; problems: Problem[] }> {
  const { model, records, problems } = await analyzeManifestDir(dir, translateOptions(options.translate));
  // A policy that exists but is not applied is named beside the Service's choice, so
  // "Auto (no TrafficPolicy)" is never the whole story.
  const notApplied = (serviceKey: string) => [
    ...new Set(
      problems
        .filter((p) => p.object.kind === 'TrafficPolicy' && p.severity === 'error' && policyTarget(model, records, p.object) === serviceKey)
        .map((p) => `TrafficPolicy ${p.object.namespace}/${p.object.name}: ${p.code}`),
    ),
  ];
  return { document: renderModel(model, options, notApplied), problems };
}

/** The Service key a TrafficPolicy names: as written (even when rejected), else its last valid version. */
function policyTarget(model: MeshModel, records: SourceRecords, object: Problem['object']): string | undefined {
  const namespace = object.namespace ?? 'default';
  const rejected = records.rejection({ kind: 'TrafficPolicy', namespace, name: object.name })?.object as TrafficPolicyObject | undefined;
  const targetRef = rejected?.spec?.targetRef ?? model.policy(namespace, object.name)?.spec.targetRef;
  // A policy on an HTTPRoute or Gateway names no Service.
  if ((targetRef?.kind ?? 'Service') !== 'Service') return undefined;
  const name = targetRef?.name;
  return typeof name === 'string' ? `${namespace}/${name}` : undefined;
}

/** Every resource a proxy of `role` would get from the model, as config-dump JSON (what `render` prints). */
export function renderModel(
  model: MeshModel,
  options: RenderOptions,
  policiesNotApplied?: (serviceKey: string) => string[],
): Record<string, unknown> {
  const translate = translateOptions(options.translate);
  if (options.role === 'gateway') {
    const gateway = translateGateway(model, options.gateway ?? '', translate);
    return {
      clusters: json(gateway.clusters),
      endpoints: json(gateway.endpoints),
      routes: json(gateway.routes),
      listeners: json(gateway.listeners),
      // The keys are the user's own, but a rendered file is easily shared: leave them out.
      secrets: json(gateway.secrets).map(redactSecrets),
      ingresses: gateway.ingresses,
      problems: gateway.problems,
    };
  }
  const profile = options.client ? clientProfile(options.client) : undefined;
  const provider = options.role === 'proxyless' && options.certificateProvider === true;
  const shape = profile
    ? servedShape(profile, options.role, provider)
    : provider
      ? { ...baselineShape('proxyless'), workloadTls: true }
      : undefined;
  // A pod's sidecar is served within its egress scope — the pod's own annotation, else its
  // namespace's — as `serve` does.
  const [podNamespace, podName] = options.role === 'sidecar' && options.pod !== undefined ? options.pod.split('/') : [];
  const pod = podNamespace !== undefined ? model.workload(podNamespace, podName ?? '') : undefined;
  const egress = pod ? model.workloadEgress(pod) : undefined;
  const scope = egress ? egress.scope : podNamespace !== undefined ? model.egressScope(podNamespace) : undefined;
  const all = translateAll(model, options.role, {
    ...translate,
    ...(shape ? { served: shape } : {}),
    ...(scope ? { reach: model.scopeReach(scope) } : {}),
  });
  const baseGroup = shape ? meshGroupName('sidecar', shape) : 'sidecar';
  const group = scope ? scopedGroupName(baseGroup, scope.id) : baseGroup;
  const scopeView = {
    ...(scope ? { scope: describeScope(scope) } : {}),
    // Said only where the pod's own annotation decides: it applies, or it was refused.
    ...(egress?.from === 'pod' ? { scopeFrom: 'pod' } : {}),
    ...(egress?.refused !== undefined ? { podScopeRefused: egress.refused } : {}),
  };
  let workload: Record<string, unknown> | undefined;
  if (options.role === 'sidecar' && options.pod !== undefined) {
    if (!pod) {
      // What the sidecar of a pod Switchyard does not know yet gets: the outbound side only.
      workload = { pod: options.pod, known: false, ...(scope ? { ...scopeView, group } : {}) };
    } else {
      const podShape = model.workloadShape(pod);
      const inbound = translateInbound(podShape, translate);
      const byName = (a: XdsResource, b: XdsResource) => compare(a.name, b.name);
      all.listeners = [...all.listeners, ...inbound.listeners].sort(byName);
      all.clusters = [...all.clusters, ...inbound.clusters].sort(byName);
      all.routes = [...all.routes, ...inbound.routes].sort(byName);
      workload = {
        pod: options.pod,
        known: true,
        ...(pod.ip !== undefined ? { ip: pod.ip } : {}),
        serviceAccount: pod.serviceAccount,
        ...scopeView,
        group: workloadGroupName(group, podShape.id),
        ports: podShape.ports,
      };
    }
  }
  return {
    ...(workload ? { workload } : {}),
    ...(profile && shape
      ? {
          client: { description: describeClient(profile.identity), group: meshGroupName(options.role, shape) },
          degradations: degradationsFor(model, options.role, profile, translate),
        }
      : shape && provider
        ? { client: { group: meshGroupName('proxyless', shape) } }
        : {}),
    clusters: json(all.clusters),
    endpoints: json(all.endpoints),
    routes: json(all.routes),
    listeners: json(all.listeners),
    secrets: json(all.secrets),
    // Which load-balancing policy each Service got, and why (Auto explains its choice).
    // `policiesNotApplied`: TrafficPolicies naming the Service that are not applied, with their problem code.
    loadBalancing: model.services().map((service) => {
      const ignored = policiesNotApplied?.(service.key) ?? [];
      return {
        service: service.key,
        ...explainLbChoice(model, service.key, translate),
        ...(ignored.length ? { policiesNotApplied: ignored } : {}),
      };
    }),
  };
}

function clientFlag(value: unknown, role: unknown): ClientIdentity {
  if (role === 'gateway')
    throw new UsageError('--client: gateways are served as current Envoys; use --client with --role sidecar or proxyless');
  try {
    return parseClientLabel(String(value));
  } catch (error) {
    throw new UsageError(`--client: ${(error as Error).message}`);
  }
}

export async function render(values: FlagValues): Promise<number> {
  const { document, problems } = await renderWithProblems(values.manifests as string, {
    role: values.role as RenderOptions['role'],
    gateway: values.gateway as string | undefined,
    ...(values.pod !== undefined ? { pod: String(values.pod) } : {}),
    translate: translateSettings(values),
    ...(values.client !== undefined ? { client: clientFlag(values.client, values.role) } : {}),
    ...(values.certificateProvider === true ? { certificateProvider: true } : {}),
  });
  // stdout is the JSON alone (it is piped into files and jq); the problems go to stderr.
  if (problems.length > 0) process.stderr.write(`${formatProblems(problems)}\n${values.manifests}: ${countText(problems)}\n`);
  process.stdout.write(JSON.stringify(document, null, 2) + '\n');
  return 0;
}

/** Lists every problem of a folder (text grouped by file, or JSON); 1 if any is an error, else 0. */
export async function validate(dir: string, values: FlagValues = {}): Promise<number> {
  const { problems, objects } = await analyzeManifestDir(dir, translateSettings(values));
  const counts = countBySeverity(problems);
  if (values.output === 'json') {
    const summary = { folder: dir, objects, errors: counts.error, warnings: counts.warning, notes: counts.info };
    process.stdout.write(JSON.stringify({ summary, problems }, null, 2) + '\n');
  } else {
    if (problems.length > 0) process.stdout.write(formatProblems(problems) + '\n');
    const verdict =
      counts.error + counts.warning === 0
        ? `${objects} objects, all valid${counts.info ? ` (${countText(problems)})` : ''}`
        : `${objects} objects, ${countText(problems)}`;
    process.stdout.write(`${dir}: ${verdict}\n`);
  }
  return counts.error > 0 ? 1 : 0;
}
