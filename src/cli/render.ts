// `switchyard render` and `switchyard validate`: one-shot runs of the same sources, model and
// translator that `serve` uses, printing what a proxy would receive or what is wrong.
import { loadManifestDir } from '../sources/files.js';
import { MeshModel } from '../model/index.js';
import { translateAll, translateGateway, explainLbChoice, degradationsFor } from '../translate/index.js';
import { clientProfile, describeClient, meshGroupName, parseClientLabel, servedShape, type ClientIdentity } from '../clients/index.js';
import { translateOptions, type ProxyRole, type TranslateOptions } from '../translate/options.js';
import { toProto3Json } from '../envoy/proto-json.js';
import type { XdsResource } from '../envoy/protos.js';
import { translateSettings, UsageError, type FlagValues } from './flags.js';
import { redactSecrets } from '../admin/config-dump.js';
import { log } from '../log.js';

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
}

/** Every resource a proxy of `role` would get from the manifests in `dir`, as config-dump JSON. */
export async function renderDocument(dir: string, options: RenderOptions): Promise<Record<string, unknown>> {
  const { events, problems } = await loadManifestDir(dir);
  for (const problem of problems) log.warn('manifest problem', { message: problem.message });
  const model = new MeshModel();
  model.apply(events);
  return renderModel(model, options);
}

/** Every resource a proxy of `role` would get from the model, as config-dump JSON (what `render` prints). */
export function renderModel(model: MeshModel, options: RenderOptions): Record<string, unknown> {
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
  const shape = profile ? servedShape(profile, options.role) : undefined;
  const all = translateAll(model, options.role, shape ? { ...translate, served: shape } : translate);
  return {
    ...(profile && shape
      ? { client: { description: describeClient(profile.identity), group: meshGroupName(options.role, shape) }, degradations: degradationsFor(model, options.role, profile, translate) }
      : {}),
    clusters: json(all.clusters),
    endpoints: json(all.endpoints),
    routes: json(all.routes),
    listeners: json(all.listeners),
    secrets: json(all.secrets),
    // Which load-balancing policy each Service got, and why (Auto explains its choice).
    loadBalancing: model.services().map((service) => ({ service: service.key, ...explainLbChoice(model, service.key, translate) })),
  };
}

function clientFlag(value: unknown, role: unknown): ClientIdentity {
  if (role === 'gateway') throw new UsageError('--client: gateways are served as current Envoys; use --client with --role sidecar or proxyless');
  try {
    return parseClientLabel(String(value));
  } catch (error) {
    throw new UsageError(`--client: ${(error as Error).message}`);
  }
}

export async function render(values: FlagValues): Promise<number> {
  const document = await renderDocument(values.manifests as string, {
    role: values.role as RenderOptions['role'],
    gateway: values.gateway as string | undefined,
    translate: translateSettings(values),
    ...(values.client !== undefined ? { client: clientFlag(values.client, values.role) } : {}),
  });
  process.stdout.write(JSON.stringify(document, null, 2) + '\n');
  return 0;
}

/** Prints one line per problem (file:line, object, field, reason); 1 if any, else 0. */
export async function validate(dir: string): Promise<number> {
  const { events, problems } = await loadManifestDir(dir);
  const lines = problems.map((p) => p.message);
  for (const event of events) {
    if (event.type !== 'rejected') continue;
    const where = event.origin?.file ? `${event.origin.file}:${event.origin.line ?? 1}: ` : '';
    for (const error of event.errors) lines.push(`${where}${error}`);
  }
  const model = new MeshModel();
  model.apply(events);
  for (const status of model.policyStatuses()) {
    for (const condition of status.conditions) {
      if (condition.status === 'False') {
        lines.push(`TrafficPolicy ${status.namespace}/${status.name}: ${condition.type}=False (${condition.reason}): ${condition.message}`);
      }
    }
  }
  const unique = [...new Set(lines)];
  for (const line of unique) process.stdout.write(line + '\n');
  const objects = events.filter((e) => e.type === 'upsert').length;
  process.stdout.write(unique.length === 0 ? `${dir}: ${objects} objects, all valid\n` : `${dir}: ${unique.length} problem(s)\n`);
  return unique.length === 0 ? 0 : 1;
}
