// Semantic checks of a TrafficPolicy spec. Structure (types, required fields) was checked by
// the source against the CRD schema; this checks meaning: numbers Envoy would reject, and
// references to Services. Every message starts with the field path and says how to fix it.
import type { TrafficPolicySpec, WeightedBackend } from '../sources/types.js';
import type { ServiceInfo } from './types.js';
import { MAX_DURATION_MS, parseDuration } from './duration.js';
import { maglevTableSizeProblem } from '../envoy/maglev.js';

/** Envoy's own limits (maglev.proto, ring_hash.proto). */
const MAGLEV_MAX_TABLE_SIZE = 5_000_011;
const RING_HASH_MAX_SIZE = 8_388_608;

interface PolicyIssues {
  /** The spec means something Envoy cannot do: Accepted=False. */
  spec: string[];
  /** A referenced Service (or its port) is missing: ResolvedRefs=False. */
  refs: string[];
  /** The targetRef Service exists. */
  targetFound: boolean;
}

type ServiceLookup = (namespace: string, name: string) => ServiceInfo | undefined;

const HASHING_POLICIES = new Set(['Auto', 'RingHash', 'Maglev']);

/** Every retry_on condition Envoy knows (HTTP and gRPC); Envoy rejects a route with any other. */
const RETRY_ON_CONDITIONS: readonly string[] = [
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
];

/** An HTTP header name (RFC 9110 token), or a pseudo-header such as :authority. */
const HEADER_NAME = /^:?[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/** A targetRef kind other than Service: the policy attaches to a Gateway API object and carries a rate limit only. */
export function isAttachedPolicy(spec: Pick<TrafficPolicySpec, 'targetRef'> | undefined): boolean {
  const kind = spec?.targetRef?.kind;
  return kind !== undefined && kind !== 'Service';
}

export function checkPolicy(namespace: string, spec: TrafficPolicySpec, lookup: ServiceLookup): PolicyIssues {
  if (isAttachedPolicy(spec)) return checkAttachedPolicy(spec);
  const issues: PolicyIssues = { spec: [], refs: [], targetFound: false };
  const target = spec.targetRef?.name ? lookup(namespace, spec.targetRef.name) : undefined;
  if (!spec.targetRef?.name) {
    issues.spec.push('spec.targetRef.name: missing; name the Service this policy applies to');
  } else if (!target) {
    issues.refs.push(`spec.targetRef.name: Service ${namespace}/${spec.targetRef.name} not found in namespace ${namespace}`);
  } else {
    issues.targetFound = true;
  }
  const targetPorts = target ? target.ports.map((p) => p.port) : [];

  const lb = spec.loadBalancer;
  if (lb) {
    const tableSize = lb.maglev?.tableSize;
    if (tableSize !== undefined) {
      const problem =
        tableSize > MAGLEV_MAX_TABLE_SIZE
          ? `${tableSize} is larger than Envoy's maximum ${MAGLEV_MAX_TABLE_SIZE}`
          : maglevTableSizeProblem(tableSize);
      if (problem) issues.spec.push(`spec.loadBalancer.maglev.tableSize: ${problem}`);
    }
    const ring = lb.ringHash;
    if (ring) {
      if (ring.minimumRingSize !== undefined && ring.maximumRingSize !== undefined && ring.minimumRingSize > ring.maximumRingSize) {
        issues.spec.push(
          `spec.loadBalancer.ringHash: minimumRingSize ${ring.minimumRingSize} is larger than maximumRingSize ${ring.maximumRingSize}; make minimumRingSize <= maximumRingSize`,
        );
      }
      for (const field of ['minimumRingSize', 'maximumRingSize'] as const) {
        const size = ring[field];
        if (size !== undefined && (size < 1 || size > RING_HASH_MAX_SIZE)) {
          issues.spec.push(`spec.loadBalancer.ringHash.${field}: ${size} is outside 1..${RING_HASH_MAX_SIZE}`);
        }
      }
    }
    const choiceCount = lb.leastRequest?.choiceCount;
    if (choiceCount !== undefined && choiceCount < 2) {
      issues.spec.push(`spec.loadBalancer.leastRequest.choiceCount: ${choiceCount} is below 2; least_request compares at least 2 hosts`);
    }
    if (lb.hashOn?.length) {
      const policy = lb.policy ?? 'Auto';
      if (!HASHING_POLICIES.has(policy)) {
        issues.spec.push(`spec.loadBalancer.hashOn: policy ${policy} does not hash; use RingHash, Maglev or Auto, or remove hashOn`);
      }
      lb.hashOn.forEach((entry, i) => {
        const kinds = (['header', 'cookie', 'sourceIP', 'queryParameter'] as const).filter((k) => entry[k] !== undefined);
        if (kinds.length !== 1) {
          issues.spec.push(
            `spec.loadBalancer.hashOn[${i}]: set exactly one of header, cookie, sourceIP or queryParameter (found ${kinds.length})`,
          );
        }
        if (entry.cookie?.ttl !== undefined) checkDuration(`spec.loadBalancer.hashOn[${i}].cookie.ttl`, entry.cookie.ttl, issues);
        if (entry.header) checkHeaderName(`spec.loadBalancer.hashOn[${i}].header.name`, entry.header.name, issues);
        if (entry.cookie && !entry.cookie.name) issues.spec.push(`spec.loadBalancer.hashOn[${i}].cookie.name: empty; name the cookie`);
        if (entry.queryParameter && !entry.queryParameter.name)
          issues.spec.push(`spec.loadBalancer.hashOn[${i}].queryParameter.name: empty; name the parameter`);
      });
    }
  }

  if (spec.split) checkSplit('spec.split', spec.split, namespace, targetPorts, lookup, issues);
  spec.routes?.forEach((route, i) => {
    const at = `spec.routes[${i}]`;
    const hasBackend = route.backend !== undefined;
    const hasSplit = route.split !== undefined;
    if (hasBackend === hasSplit) {
      issues.spec.push(`${at}: set exactly one of backend or split`);
    }
    if (hasBackend) {
      checkBackendRef(`${at}.backend`, `${at}.port`, route.backend as string, route.port, namespace, targetPorts, lookup, issues);
    }
    if (hasSplit) checkSplit(`${at}.split`, route.split as WeightedBackend[], namespace, targetPorts, lookup, issues);
    const path = route.match?.path;
    if (path) {
      const set = (['prefix', 'exact', 'regex'] as const).filter((k) => path[k] !== undefined);
      if (set.length > 1) issues.spec.push(`${at}.match.path: set only one of prefix, exact or regex`);
      if (path.regex !== undefined) checkRegex(`${at}.match.path.regex`, path.regex, issues);
    }
    route.match?.headers?.forEach((header, j) => {
      checkHeaderName(`${at}.match.headers[${j}].name`, header.name, issues);
      const set = (['exact', 'regex', 'present'] as const).filter((k) => header[k] !== undefined);
      if (set.length > 1) issues.spec.push(`${at}.match.headers[${j}]: set only one of exact, regex or present`);
      if (header.regex !== undefined) checkRegex(`${at}.match.headers[${j}].regex`, header.regex, issues);
    });
  });

  if (spec.timeout !== undefined) checkDuration('spec.timeout', spec.timeout, issues);
  if (spec.retries) {
    if (spec.retries.attempts < 0) issues.spec.push(`spec.retries.attempts: ${spec.retries.attempts} is negative`);
    if (spec.retries.perTryTimeout !== undefined) checkDuration('spec.retries.perTryTimeout', spec.retries.perTryTimeout, issues);
    spec.retries.retryOn?.forEach((condition, i) => {
      if (!RETRY_ON_CONDITIONS.includes(condition)) {
        issues.spec.push(
          `spec.retries.retryOn[${i}]: "${condition}" is not a retry condition; use one of ${RETRY_ON_CONDITIONS.join(', ')}`,
        );
      }
    });
  }
  const outlier = spec.outlierDetection;
  if (outlier) {
    if (outlier.interval !== undefined) checkDuration('spec.outlierDetection.interval', outlier.interval, issues, true);
    if (outlier.baseEjectionTime !== undefined)
      checkDuration('spec.outlierDetection.baseEjectionTime', outlier.baseEjectionTime, issues, true);
    if (outlier.maxEjectionPercent !== undefined && (outlier.maxEjectionPercent < 0 || outlier.maxEjectionPercent > 100)) {
      issues.spec.push(`spec.outlierDetection.maxEjectionPercent: ${outlier.maxEjectionPercent} is outside 0..100`);
    }
  }
  const hc = spec.healthCheck;
  if (hc) {
    if ((hc.http !== undefined) === (hc.tcp !== undefined)) issues.spec.push('spec.healthCheck: set exactly one of http or tcp');
    if (hc.interval !== undefined) checkDuration('spec.healthCheck.interval', hc.interval, issues, true);
    if (hc.timeout !== undefined) checkDuration('spec.healthCheck.timeout', hc.timeout, issues, true);
    if (hc.http && !hc.http.path.startsWith('/'))
      issues.spec.push(`spec.healthCheck.http.path: ${JSON.stringify(hc.http.path)} must start with /`);
    // Both go into the probe's request head: Envoy refuses control characters there (tab aside).
    for (const field of ['path', 'host'] as const) {
      const value = hc.http?.[field];
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      if (typeof value === 'string' && /[\u0000-\u0008\u000A-\u001F\u007F]/.test(value)) {
        issues.spec.push(
          `spec.healthCheck.http.${field}: ${JSON.stringify(value)} must not contain a line break or other control character`,
        );
      }
    }
  }
  return issues;
}

function checkDuration(at: string, value: string, issues: PolicyIssues, positive = false): void {
  const ms = parseDuration(value);
  if (ms === undefined) {
    issues.spec.push(`${at}: "${value}" is not a duration; write it like "250ms", "1.5s", "1m30s" or "2h"`);
  } else if (ms > MAX_DURATION_MS) {
    issues.spec.push(`${at}: "${value}" is longer than the 10,000 years a protobuf Duration can hold`);
  } else if (positive && ms <= 0) {
    issues.spec.push(`${at}: "${value}" must be longer than 0`);
  }
}

function checkHeaderName(at: string, name: string, issues: PolicyIssues): void {
  if (!HEADER_NAME.test(name ?? '')) issues.spec.push(`${at}: ${JSON.stringify(name)} is not a valid HTTP header name`);
}

/** Envoy (and gRPC) use RE2: no lookaround, no backreferences. JavaScript's parser catches the rest. */
function checkRegex(at: string, pattern: string, issues: PolicyIssues): void {
  if (pattern === '') {
    issues.spec.push(`${at}: empty; write a regular expression, or leave the field out`);
    return;
  }
  if (/\(\?<?[=!]|\\[1-9]/.test(pattern)) {
    issues.spec.push(`${at}: ${JSON.stringify(pattern)} uses lookaround or a backreference, which RE2 (Envoy, gRPC) does not support`);
    return;
  }
  try {
    new RegExp(pattern);
  } catch (error) {
    issues.spec.push(`${at}: ${JSON.stringify(pattern)} is not a valid regular expression (${(error as Error).message})`);
  }
}

function checkSplit(
  at: string,
  split: WeightedBackend[],
  namespace: string,
  targetPorts: number[],
  lookup: ServiceLookup,
  issues: PolicyIssues,
): void {
  const total = split.reduce((sum, entry) => sum + (entry.weight > 0 ? entry.weight : 0), 0);
  if (split.length === 0 || total <= 0) {
    issues.spec.push(`${at}: weights sum to 0; give at least one backend a positive weight`);
  }
  split.forEach((entry, i) => {
    if (entry.weight < 0) issues.spec.push(`${at}[${i}].weight: ${entry.weight} is negative`);
    checkBackendRef(`${at}[${i}].backend`, `${at}[${i}].port`, entry.backend, entry.port, namespace, targetPorts, lookup, issues);
  });
}

function checkBackendRef(
  backendAt: string,
  portAt: string,
  backend: string,
  port: number | undefined,
  namespace: string,
  targetPorts: number[],
  lookup: ServiceLookup,
  issues: PolicyIssues,
): void {
  const service = lookup(namespace, backend);
  if (!service) {
    issues.refs.push(`${backendAt}: Service ${namespace}/${backend} not found in namespace ${namespace}`);
    return;
  }
  const has = new Set(service.ports.map((p) => p.port));
  if (port !== undefined) {
    if (!has.has(port)) issues.refs.push(`${portAt}: Service ${namespace}/${backend} has no port ${port}`);
    return;
  }
  // Without a port, each target port goes to the backend port with the same number.
  for (const targetPort of targetPorts) {
    if (!has.has(targetPort)) {
      issues.refs.push(`${portAt}: Service ${namespace}/${backend} has no port ${targetPort} (the target's port); set port`);
    }
  }
}

/**
 * A policy on an HTTPRoute, GRPCRoute or Gateway sets a request rateLimit and nothing else: balancing,
 * splits, retries, health checks and connection limits belong to the backend Service's policy (a
 * connection limit guards the Service's TCP ports on its sidecars; a gateway's connections are HTTP).
 * Its target is resolved by the model against the Gateway API objects (attached-policy.ts), not here.
 */
function checkAttachedPolicy(spec: TrafficPolicySpec): PolicyIssues {
  const issues: PolicyIssues = { spec: [], refs: [], targetFound: true };
  const kind = spec.targetRef.kind as string;
  const target = `a${kind === 'HTTPRoute' ? 'n' : ''} ${kind}`;
  for (const field of Object.keys(spec).sort()) {
    if (field === 'targetRef' || field === 'rateLimit') continue;
    issues.spec.push(
      `spec.${field}: a policy targeting ${target} sets only rateLimit; move ${field} to a policy targeting the backend Service`,
    );
  }
  const limit = spec.rateLimit;
  if (!limit) issues.spec.push(`spec.rateLimit: missing; a policy targeting ${target} sets rateLimit`);
  else {
    if (limit.connections) {
      issues.spec.push(
        `spec.rateLimit.connections: a policy targeting ${target} limits requests only; ` +
          "move connections to a policy targeting the backend Service (it limits connections to the Service's TCP ports on its sidecars)",
      );
    }
    if (limit.requestsPerSecond === undefined && limit.requestsPerMinute === undefined) {
      issues.spec.push(`spec.rateLimit: a policy targeting ${target} sets requestsPerSecond or requestsPerMinute`);
    }
  }
  return issues;
}
