// What a client of a given profile really applies of the configuration, where that differs from
// what the user asked: every degradation the translator makes for a profile (a policy served as
// another, a field left out) and every one the client makes itself (a field it does not read).
// Pure, like the rest of translate/: it reuses the translator's own decisions (chooseLb,
// servedLb), so what it reports is what was sent.
import type { MeshModel, ServiceInfo } from '../model/index.js';
import { describeClient, servedShape, type ClientFeature, type ClientProfile } from '../clients/index.js';
import { lbChoiceFor, portsForRole } from './clusters.js';
import { routeHashKeys, servedLb, type LbKind } from './lb-policy.js';
import { clusterName } from './names.js';
import { GRPC_RETRY_ON } from './routes.js';
import { translateOptions, type ProxyRole, type TranslateOptions } from './options.js';

export interface Degradation {
  /** The feature that is not applied as written: an LB policy (`ring_hash`, `maglev`...), `retries`, `timeouts`, `outlier_detection`, `hash_policy`. */
  feature: string;
  /** `<namespace>/<name>` of the Service concerned. */
  service: string;
  /** `<namespace>/<name>` of the TrafficPolicy that asked, if one did. */
  policy?: string;
  /** The Cluster concerned, for cluster-level features. */
  cluster?: string;
  /** What was asked, in the user's words. */
  asked: string;
  /** What the client gets instead. */
  served: string;
  /** Why, naming the client: "gRPC C-core 1.51.1 crashes the calling process on its first ring-hash pick (...)". */
  reason: string;
}

const POLICY_NAMES: Record<LbKind, string> = {
  maglev: 'Maglev',
  ring_hash: 'RingHash',
  least_request: 'LeastRequest',
  round_robin: 'RoundRobin',
  random: 'Random',
};

/** The policy a client applies from what it is served: the first it supports from the typed list, or the legacy field. */
function appliedPolicy(profile: ClientProfile, policies: LbKind[], legacy: LbKind): LbKind {
  if (!profile.has('typed_lb_policy')) return legacy;
  return policies.find((kind) => kind === 'round_robin' || profile.has(kind as ClientFeature)) ?? legacy;
}

function lbDegradations(
  model: MeshModel,
  service: ServiceInfo,
  role: ProxyRole,
  profile: ClientProfile,
  options: TranslateOptions,
): Degradation[] {
  const policyKey = model.effectivePolicy(service.key)?.policyKey;
  const shape = servedShape(profile, role);
  const result: Degradation[] = [];
  for (const port of portsForRole(service, role)) {
    const choice = lbChoiceFor(model, service, port, options);
    const served = servedLb(choice, shape);
    const applied = options.legacyLbPolicy && role === 'sidecar' ? served.legacy : appliedPolicy(profile, served.policies, served.legacy);
    if (applied === choice.policy) continue;
    const missing = profile.lacks(choice.policy as ClientFeature);
    const reason =
      missing ??
      (options.legacyLbPolicy
        ? `--legacy-lb-policy sends lb_policy only, which ${describeClient(profile.identity)} reads as ${applied}`
        : undefined) ??
      `${profile.lacks('typed_lb_policy') ?? describeClient(profile.identity)}; it reads lb_policy only`;
    result.push({
      feature: choice.policy,
      service: service.key,
      ...(policyKey ? { policy: policyKey } : {}),
      cluster: clusterName(service.key, port.port),
      asked: choice.reason.startsWith('Auto') ? `Auto (${POLICY_NAMES[choice.policy]})` : POLICY_NAMES[choice.policy],
      served: applied,
      reason: `${POLICY_NAMES[choice.policy]} served as ${applied}: ${reason}`,
    });
  }
  return result;
}

function routeDegradations(model: MeshModel, service: ServiceInfo, role: ProxyRole, profile: ClientProfile): Degradation[] {
  const effective = model.effectivePolicy(service.key);
  const policy = effective?.policy;
  const base = { service: service.key, ...(effective?.policyKey ? { policy: effective.policyKey } : {}) };
  const result: Degradation[] = [];
  const unread = (feature: ClientFeature, asked: string): void => {
    const why = profile.lacks(feature);
    if (why) result.push({ feature, ...base, asked, served: 'not applied', reason: `${asked} not applied: ${why}` });
  };
  if (policy?.retries) {
    unread('retries', `retries (${policy.retries.attempts} attempts)`);
    const retryOn = policy.retries.retryOn ?? [];
    const dropped = retryOn.filter((condition) => !GRPC_RETRY_ON.has(condition));
    if (role === 'proxyless' && dropped.length > 0 && profile.has('retries')) {
      result.push({
        feature: 'retries',
        ...base,
        asked: `retryOn ${retryOn.join(',')}`,
        served: `retryOn ${retryOn.filter((c) => GRPC_RETRY_ON.has(c)).join(',') || 'unavailable'}`,
        reason: `retryOn ${dropped.join(',')} left out: gRPC retries only on the status codes ${[...GRPC_RETRY_ON].join(', ')} (gRFC A44)`,
      });
    }
  }
  // The timeout in the user's words, as written in the spec.
  if (policy?.timeoutMs !== undefined) unread('timeouts', `timeout ${effective?.spec.timeout}`);
  if (policy?.outlierDetection) unread('outlier_detection', 'outlierDetection');
  // Hash keys matter only where the client hashes (ring hash is applied).
  const keys = routeHashKeys(policy, service.clientIPAffinity);
  if (role === 'proxyless' && keys.length > 0 && profile.has('ring_hash')) {
    for (const key of keys) {
      const asked =
        key.kind === 'cookie'
          ? `hashOn cookie ${key.name}`
          : key.kind === 'queryParameter'
            ? `hashOn query parameter ${key.name}`
            : key.kind === 'sourceIP'
              ? 'hashOn source IP'
              : undefined;
      if (!asked) continue;
      const served = key.kind === 'sourceIP' ? 'hash on the channel id (io.grpc.channel_id)' : 'left out';
      const what = key.kind === 'sourceIP' ? `${asked} served as ${served}` : `${asked} left out`;
      result.push({
        feature: 'hash_policy',
        ...base,
        asked,
        served,
        reason: `${what}: gRPC hashes on headers and its channel id only (gRFC A42)`,
      });
    }
  }
  return result;
}

/** Every degradation a client of `profile` in `role` gets from the current model, by Service. */
export function degradationsFor(
  model: MeshModel,
  role: ProxyRole,
  profile: ClientProfile,
  overrides: Partial<TranslateOptions> = {},
): Degradation[] {
  const options = translateOptions(overrides);
  const result: Degradation[] = [];
  for (const service of model.services()) {
    result.push(...lbDegradations(model, service, role, profile, options), ...routeDegradations(model, service, role, profile));
  }
  return result;
}
