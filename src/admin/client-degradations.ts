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

/** What a stream is, without its per-type state: cheap to list for every policy and every scrape. */
type StreamWho = Pick<StreamSnapshot, 'streamId' | 'nodeId' | 'group' | 'client'>;

export function streamDegradations(source: DegradationSource | undefined, stream: Pick<StreamSnapshot, 'group' | 'client'>): Degradation[] {
  if (!source || stream.group === undefined || !stream.client) return [];
  return source.clientDegradations(stream.group, stream.client);
}

/** Per feature, how many connected proxies (distinct node ids) have at least one degradation of it. */
export function degradedProxiesByFeature(source: DegradationSource | undefined, streams: StreamWho[]): Map<string, number> {
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

interface ClientEntry {
  description: string;
  proxies: Set<string>;
  reasons: Set<string>;
}

/**
 * The messages of the TrafficPolicies' `ClientsDegraded` conditions, by policy key: which connected
 * clients do not get the policy as written and why. Policies every client gets are absent. One
 * pass over the streams serves every policy.
 */
export function policyDegradationMessages(source: DegradationSource | undefined, streams: StreamWho[]): Map<string, string> {
  // policy -> client label -> { description, proxies, reasons }
  const byPolicy = new Map<string, Map<string, ClientEntry>>();
  for (const stream of streams) {
    if (!stream.client) continue;
    const label = clientLabel(stream.client) + (stream.client.language ?? '');
    for (const d of streamDegradations(source, stream)) {
      if (d.policy === undefined) continue;
      let byClient = byPolicy.get(d.policy);
      if (!byClient) byPolicy.set(d.policy, (byClient = new Map()));
      let entry = byClient.get(label);
      if (!entry) byClient.set(label, (entry = { description: describeClient(stream.client), proxies: new Set(), reasons: new Set() }));
      entry.proxies.add(stream.nodeId || `stream ${stream.streamId}`);
      entry.reasons.add(d.cluster ? `${d.cluster}: ${d.reason}` : d.reason);
    }
  }
  return new Map([...byPolicy].map(([policy, byClient]) => [policy, degradationMessage(byClient)]));
}

/** The message of one TrafficPolicy's `ClientsDegraded` condition, or undefined when every client gets it as written. */
export function policyDegradationMessage(
  source: DegradationSource | undefined,
  streams: StreamWho[],
  policyKey: string,
): string | undefined {
  return policyDegradationMessages(source, streams).get(policyKey);
}

function degradationMessage(byClient: Map<string, ClientEntry>): string {
  const parts = [...byClient.keys()].sort().map((label) => {
    const { description, proxies, reasons } = byClient.get(label)!;
    const count = proxies.size;
    return `${description} (${count} ${count === 1 ? 'proxy' : 'proxies'}): ${[...reasons].sort().join('; ')}`;
  });
  const text = `not applied as written for ${parts.join(' | ')}`;
  return text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : text;
}
