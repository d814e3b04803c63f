// The load-balancing policy of a Service: which one (and why, for Auto), the ordered list of
// typed policies on the Cluster (each client takes the first it supports), and the hash keys
// that go on the route.
import { protoDuration, type HashKey, type ServicePolicy } from '../model/index.js';
import { LEGACY_LB_POLICIES, type LbPolicyName, type ServedShape } from '../clients/index.js';
import { servedShapeOf, type ProxyRole, type TranslateOptions } from './options.js';
import { sharedFrozen } from '../envoy/frozen.js';

export type LbKind = LbPolicyName;

export interface LbChoice {
  policy: LbKind;
  /** The Cluster's list: `policy` first, then what clients without it use. */
  policies: LbKind[];
  reason: string;
}

interface LbFacts {
  /** The Service's TrafficPolicy, if any (its key goes in the reason). */
  policy?: ServicePolicy;
  clientIPAffinity: boolean;
  healthyEndpoints: number;
  drainingEndpoints: number;
}

/**
 * Proxyless gRPC knows ring_hash, round_robin and pick_first; an unknown policy alone NACKs
 * the whole CDS response. Every Envoy-only policy therefore carries a fallback gRPC knows.
 */
const POLICY_LISTS: Record<LbKind, LbKind[]> = {
  maglev: ['maglev', 'ring_hash'],
  ring_hash: ['ring_hash'],
  least_request: ['least_request', 'round_robin'],
  round_robin: ['round_robin'],
  random: ['random', 'round_robin'],
};

const EXPLICIT: Record<string, LbKind> = {
  RingHash: 'ring_hash',
  Maglev: 'maglev',
  LeastRequest: 'least_request',
  RoundRobin: 'round_robin',
  Random: 'random',
};

const SOURCE_IP_HASH: HashKey = { kind: 'sourceIP', terminal: false };

/** The keys requested: explicit hashOn wins; sessionAffinity: ClientIP asks for a source-IP hash. */
function requestedHashKeys(policy: ServicePolicy | undefined, clientIPAffinity: boolean): HashKey[] {
  const hashOn = policy?.loadBalancer.hashOn;
  return hashOn?.length ? hashOn : clientIPAffinity ? [SOURCE_IP_HASH] : [];
}

/**
 * The route's hash keys. They do not depend on endpoints (Auto hashes whenever keys are asked
 * for; only maglev vs ring_hash does), so routes need no endpoint facts.
 */
export function routeHashKeys(policy: ServicePolicy | undefined, clientIPAffinity: boolean): HashKey[] {
  const requested = policy?.loadBalancer.policy ?? 'Auto';
  return requested === 'Auto' || requested === 'RingHash' || requested === 'Maglev' ? requestedHashKeys(policy, clientIPAffinity) : [];
}

/**
 * The Auto rule as users read it: the CRD's description of `loadBalancer.policy` is generated
 * from this text (`npm run docs`), and a test fails when the two differ. Change it together
 * with chooseLb below.
 */
export function autoRuleText(maglevMinEndpoints: number): string {
  return (
    'Auto (the default): when hash keys are requested (hashOn, or sessionAffinity: ClientIP on the ' +
    `Service, which hashes the source IP), Maglev if the Service has at least ${maglevMinEndpoints} endpoints ` +
    '(--maglev-min-endpoints) and none draining, otherwise RingHash; with no hash keys, LeastRequest. ' +
    'Maglev falls back to RingHash, and LeastRequest and Random to RoundRobin, on clients that lack them.'
  );
}

export function chooseLb(facts: LbFacts, options: TranslateOptions): LbChoice {
  const lb = facts.policy?.loadBalancer;
  const requested = lb?.policy ?? 'Auto';
  const hashOn = requestedHashKeys(facts.policy, facts.clientIPAffinity);
  const origin = facts.policy ? `TrafficPolicy ${facts.policy.key}` : 'no TrafficPolicy';

  if (requested !== 'Auto') {
    const policy = EXPLICIT[requested];
    return { policy, policies: POLICY_LISTS[policy], reason: `${origin} sets policy ${requested}` };
  }
  if (hashOn.length === 0) {
    return {
      policy: 'least_request',
      policies: POLICY_LISTS.least_request,
      reason: `Auto (${origin}): no hash keys requested, so least_request (fewest active requests among 2 random hosts)`,
    };
  }
  const why = lb?.hashOn?.length ? `hashOn ${describeHashOn(lb.hashOn)}` : 'sessionAffinity: ClientIP';
  const total = facts.healthyEndpoints + facts.drainingEndpoints;
  let policy: LbKind;
  let sizing: string;
  if (total < options.maglevMinEndpoints) {
    policy = 'ring_hash';
    sizing = `${total} endpoints < maglevMinEndpoints ${options.maglevMinEndpoints}`;
  } else if (facts.drainingEndpoints > 0) {
    policy = 'ring_hash';
    sizing = `${total} endpoints but ${facts.drainingEndpoints} draining (not stable)`;
  } else {
    policy = 'maglev';
    sizing = `${total} endpoints >= maglevMinEndpoints ${options.maglevMinEndpoints}, none draining`;
  }
  return {
    policy,
    policies: POLICY_LISTS[policy],
    reason: `Auto (${origin}): hash keys requested (${why}); ${sizing}, so ${policy}`,
  };
}

function describeHashOn(hashOn: HashKey[]): string {
  return hashOn
    .map((entry) =>
      entry.kind === 'header'
        ? `header ${entry.name}`
        : entry.kind === 'cookie'
          ? `cookie ${entry.name}`
          : entry.kind === 'queryParameter'
            ? `query parameter ${entry.name}`
            : 'source IP',
    )
    .join(', ');
}

const LB_TYPES: Record<LbKind, { name: string; type: string }> = {
  maglev: {
    name: 'envoy.load_balancing_policies.maglev',
    type: 'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev',
  },
  ring_hash: {
    name: 'envoy.load_balancing_policies.ring_hash',
    type: 'type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash',
  },
  least_request: {
    name: 'envoy.load_balancing_policies.least_request',
    type: 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest',
  },
  round_robin: {
    name: 'envoy.load_balancing_policies.round_robin',
    type: 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin',
  },
  random: {
    name: 'envoy.load_balancing_policies.random',
    type: 'type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random',
  },
};

const HASHING: ReadonlySet<LbKind> = new Set(['maglev', 'ring_hash']);

/** What a Cluster carries for a choice, for clients of one shape. */
interface ServedLb {
  /** The typed list (`load_balancing_policy`): the choice's list, hashing replaced by round_robin when the shape has no ring hash. */
  policies: LbKind[];
  /** The legacy `lb_policy`: the first of `policies` that the shape's legacy path reads. */
  legacy: LbKind;
}

export function servedLb(choice: LbChoice, shape: ServedShape): ServedLb {
  const policies = shape.ringHash
    ? [...choice.policies]
    : [...new Set(choice.policies.map((kind) => (HASHING.has(kind) ? 'round_robin' : kind)))];
  const readable = LEGACY_LB_POLICIES[shape.legacyLb];
  return { policies, legacy: policies.find((kind) => readable.includes(kind)) ?? 'round_robin' };
}

const LEGACY_ENUM: Record<LbKind, string> = {
  maglev: 'MAGLEV',
  ring_hash: 'RING_HASH',
  least_request: 'LEAST_REQUEST',
  round_robin: 'ROUND_ROBIN',
  random: 'RANDOM',
};

/**
 * The Cluster fields for a choice: `loadBalancingPolicy` and, always beside it, the legacy
 * `lbPolicy` with its `*LbConfig` (clients before custom LB config — gRFC A52, Envoy 1.24 — read
 * only those); in legacy mode (`--legacy-lb-policy`, sidecars) only the legacy fields.
 */
export function clusterLbFields(
  choice: LbChoice,
  policy: ServicePolicy | undefined,
  role: ProxyRole,
  options: TranslateOptions,
): Record<string, unknown> {
  // The fields follow from the choice's list, the role and what the clients understand, and from
  // the few numbers `lbFields` reads of a TrafficPolicy: built once per combination and shared
  // (frozen), so the encoder and the validation rules work them out once for most Clusters.
  const shape = servedShapeOf(role, options);
  const key = `${choice.policies.join(',')}|${role}|${shape.ringHash}|${shape.legacyLb}|${options.legacyLbPolicy}`;
  if (!policy) return sharedFrozen(plainLbFields, key, () => lbFields(choice, undefined, role, options));
  const lb = policy.loadBalancer;
  const read = [lb.minimumRingSize, lb.maximumRingSize, lb.maglevTableSize, lb.choiceCount, lb.activeRequestBias, policy.preferLocalZone];
  return sharedFrozen(policyLbFields, `${key}|${read.join('|')}`, () => lbFields(choice, policy, role, options));
}

const plainLbFields = new Map<string, Record<string, unknown>>();
/** By the policy numbers too: every value `lbFields` reads of a policy must be in the key. */
const policyLbFields = new Map<string, Record<string, unknown>>();

function lbFields(
  choice: LbChoice,
  policy: ServicePolicy | undefined,
  role: ProxyRole,
  options: TranslateOptions,
): Record<string, unknown> {
  const lb = policy?.loadBalancer;
  // Zone-aware routing needs the local cluster in Envoy's bootstrap; without it Envoy ignores this.
  const zoneAware = policy?.preferLocalZone === true;
  const ringSizes = {
    ...(lb?.minimumRingSize !== undefined ? { minimumRingSize: { value: lb.minimumRingSize } } : {}),
    ...(lb?.maximumRingSize !== undefined ? { maximumRingSize: { value: lb.maximumRingSize } } : {}),
  };
  // gRPC rejects RingHash's DEFAULT_HASH (the proto default): name xxHash, which Envoy uses either way.
  // @grpc/grpc-js-xds 1.14 hands the 64-bit ring sizes on as strings and then NACKs the cluster
  // ("min_ring_size must be a number"): proxyless clients get gRPC's default sizes instead.
  const ringHash = { hashFunction: 'XX_HASH', ...(role === 'sidecar' ? ringSizes : {}) };
  const maglev = lb?.maglevTableSize !== undefined ? { tableSize: { value: lb.maglevTableSize } } : {};
  const leastRequest = {
    ...(lb?.choiceCount !== undefined ? { choiceCount: { value: lb.choiceCount } } : {}),
    ...(lb?.activeRequestBias !== undefined
      ? { activeRequestBias: { defaultValue: lb.activeRequestBias, runtimeKey: 'switchyard.least_request.active_request_bias' } }
      : {}),
  };

  const served = servedLb(choice, servedShapeOf(role, options));
  const legacyConfigs: Partial<Record<LbKind, Record<string, unknown>>> = {
    maglev: Object.keys(maglev).length ? { maglevLbConfig: maglev } : {},
    // The legacy RingHashLbConfig's default hash function is XX_HASH, the one gRPC accepts.
    ring_hash: role === 'sidecar' && Object.keys(ringSizes).length ? { ringHashLbConfig: ringSizes } : {},
    least_request: Object.keys(leastRequest).length ? { leastRequestLbConfig: leastRequest } : {},
  };
  const legacy = { lbPolicy: LEGACY_ENUM[served.legacy], ...legacyConfigs[served.legacy] };

  if (options.legacyLbPolicy && role === 'sidecar') {
    const common =
      zoneAware && (served.legacy === 'least_request' || served.legacy === 'round_robin' || served.legacy === 'random')
        ? { commonLbConfig: { zoneAwareLbConfig: {} } }
        : {};
    return { ...legacy, ...common };
  }

  // Consistent hashing takes no zone preference: a key's host must not depend on the caller's zone.
  const locality = zoneAware ? { localityLbConfig: { zoneAwareLbConfig: {} } } : {};
  const configs: Record<LbKind, Record<string, unknown>> = {
    maglev,
    ring_hash: ringHash,
    least_request: { ...leastRequest, ...locality },
    round_robin: locality,
    random: locality,
  };
  return {
    ...legacy,
    loadBalancingPolicy: {
      policies: served.policies.map((kind) => policyEntry(kind, configs[kind])),
    },
  };
}

/** Entries without parameters, one frozen object per policy: the encoder and the validation rules work each out once. */
const plainEntries = new Map<LbKind, object>();

function policyEntry(kind: LbKind, config: Record<string, unknown>): object {
  const build = () => ({ typedExtensionConfig: { name: LB_TYPES[kind].name, typedConfig: { '@type': LB_TYPES[kind].type, ...config } } });
  if (Object.keys(config).length > 0) return build();
  return sharedFrozen(plainEntries, kind, build);
}

/**
 * Route hash policies. Proxyless gRPC hashes on headers and on the filter state
 * `io.grpc.channel_id` (one channel, one host) — the closest it has to a source-IP hash;
 * cookies and query parameters do not exist there and are left out.
 */
export function routeHashPolicies(hashOn: HashKey[], role: ProxyRole): Record<string, unknown>[] {
  const policies: Record<string, unknown>[] = [];
  for (const entry of hashOn) {
    const terminal = entry.terminal ? { terminal: true } : {};
    if (entry.kind === 'header') {
      policies.push({ header: { headerName: entry.name }, ...terminal });
    } else if (entry.kind === 'sourceIP') {
      policies.push(
        role === 'proxyless'
          ? { filterState: { key: 'io.grpc.channel_id' }, ...terminal }
          : { connectionProperties: { sourceIp: true }, ...terminal },
      );
    } else if (role === 'proxyless') {
      continue;
    } else if (entry.kind === 'cookie') {
      policies.push({
        cookie: {
          name: entry.name,
          ...(entry.ttlMs !== undefined ? { ttl: protoDuration(entry.ttlMs) } : {}),
          ...(entry.path ? { path: entry.path } : {}),
        },
        ...terminal,
      });
    } else {
      policies.push({ queryParameter: { name: entry.name }, ...terminal });
    }
  }
  return policies;
}
