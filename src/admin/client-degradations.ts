// Which connected proxies do not get their policies as written, and why: per proxy (for
// /debug/proxies, config_dump, `status`), per feature (the metric) and per TrafficPolicy (its
// status condition). The degradations themselves come from the pipeline (one computation per
// flush and client profile); this module only joins them with the open streams.
import { clientLabel, describeClient, type ClientIdentity } from '../clients/index.js';
import type { Degradation } from '../translate/index.js';
import type { StreamSnapshot } from '../xds/events.js';

/** What can say a client's degradations: the pipeline. */
export interface DegradationSource {
  clientDegradations(group: string, client: ClientIdentity): Degradation[];
}

/** The pipeline's degradations, when it computes them (a bare event emitter standing in for it does not). */
export function degradationSource(pipeline: Partial<DegradationSource>): DegradationSource | undefined {
  const compute = pipeline.clientDegradations;
  return compute ? { clientDegradations: (group, client) => compute.call(pipeline, group, client) } : undefined;
}

export function streamDegradations(source: DegradationSource | undefined, stream: Pick<StreamSnapshot, 'group' | 'client'>): Degradation[] {
  if (!source || stream.group === undefined || !stream.client) return [];
  return source.clientDegradations(stream.group, stream.client);
}

/** Per feature, how many connected proxies (distinct node ids) have at least one degradation of it. */
export function degradedProxiesByFeature(source: DegradationSource | undefined, streams: StreamSnapshot[]): Map<string, number> {
  const proxies = new Map<string, Set<string>>();
  for (const stream of streams) {
    for (const degradation of streamDegradations(source, stream)) {
      let nodes = proxies.get(degradation.feature);
      if (!nodes) proxies.set(degradation.feature, (nodes = new Set()));
      nodes.add(stream.nodeId || `stream ${stream.streamId}`);
    }
  }
  return new Map([...proxies].map(([feature, nodes]) => [feature, nodes.size]));
}

const MAX_MESSAGE_LENGTH = 1024;

/**
 * The message of a TrafficPolicy's `ClientsDegraded` condition: which connected clients do not
 * get the policy as written and why, or undefined when every client does.
 */
export function policyDegradationMessage(
  source: DegradationSource | undefined,
  streams: StreamSnapshot[],
  policyKey: string,
): string | undefined {
  // client label -> { description, proxies, reasons }
  const byClient = new Map<string, { description: string; proxies: Set<string>; reasons: Set<string> }>();
  for (const stream of streams) {
    const concerning = streamDegradations(source, stream).filter((d) => d.policy === policyKey);
    if (concerning.length === 0 || !stream.client) continue;
    const label = clientLabel(stream.client) + (stream.client.language ?? '');
    let entry = byClient.get(label);
    if (!entry) byClient.set(label, (entry = { description: describeClient(stream.client), proxies: new Set(), reasons: new Set() }));
    entry.proxies.add(stream.nodeId || `stream ${stream.streamId}`);
    for (const d of concerning) entry.reasons.add(d.cluster ? `${d.cluster}: ${d.reason}` : d.reason);
  }
  if (byClient.size === 0) return undefined;
  const parts = [...byClient.keys()].sort().map((label) => {
    const { description, proxies, reasons } = byClient.get(label)!;
    const count = proxies.size;
    return `${description} (${count} ${count === 1 ? 'proxy' : 'proxies'}): ${[...reasons].sort().join('; ')}`;
  });
  const text = `not applied as written for ${parts.join(' | ')}`;
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : text;
}
