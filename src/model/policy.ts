// The TrafficPolicy processor: a checked spec becomes the ServicePolicy the translator reads,
// with durations in milliseconds, defaults filled in, backends as Service keys and one
// variant per hash key, header matcher and health check. Only valid specs (current or last
// good) are normalized, so nothing here reports errors: checkPolicy did that.
import type { HashOnEntry, RouteMatchSpec, TrafficPolicySpec, WeightedBackend } from '../sources/types.js';
import { parseDuration } from './duration.js';
import { objectKey } from './keys.js';
import type {
  HashKey,
  HeaderMatch,
  PathMatch,
  PolicyBackend,
  PolicyHealthCheck,
  PolicyRouteMatch,
  RateLimit,
  ServicePolicy,
} from './types.js';

/** Envoy's common health-check choices; Envoy requires every one of them. */
export const HEALTH_CHECK_DEFAULTS = Object.freeze({ timeoutMs: 1000, intervalMs: 10_000, healthyThreshold: 2, unhealthyThreshold: 3 });

/** retryOn when the policy sets none: by what the port speaks. */
export const DEFAULT_RETRY_ON = Object.freeze({
  grpc: Object.freeze(['unavailable', 'connect-failure', 'refused-stream', 'reset']),
  http: Object.freeze(['5xx', 'connect-failure', 'refused-stream', 'reset']),
});

const normalized = new WeakMap<TrafficPolicySpec, ServicePolicy>();

/** The ServicePolicy of a valid spec; the same object for the same spec (the model keeps specs unchanged). */
export function toServicePolicy(policyKey: string, namespace: string, spec: TrafficPolicySpec): ServicePolicy {
  const cached = normalized.get(spec);
  if (cached && cached.key === policyKey) return cached;
  const result = normalizePolicy(policyKey, namespace, spec);
  normalized.set(spec, result);
  return result;
}

export function normalizePolicy(policyKey: string, namespace: string, spec: TrafficPolicySpec): ServicePolicy {
  const lb = spec.loadBalancer;
  const outlier = spec.outlierDetection;
  const retries = spec.retries;
  const breaker = spec.circuitBreaker;
  return {
    key: policyKey,
    loadBalancer: {
      policy: lb?.policy ?? 'Auto',
      hashOn: (lb?.hashOn ?? []).map(hashKey),
      ...(lb?.ringHash?.minimumRingSize !== undefined ? { minimumRingSize: lb.ringHash.minimumRingSize } : {}),
      ...(lb?.ringHash?.maximumRingSize !== undefined ? { maximumRingSize: lb.ringHash.maximumRingSize } : {}),
      ...(lb?.maglev?.tableSize !== undefined ? { maglevTableSize: lb.maglev.tableSize } : {}),
      ...(lb?.leastRequest?.choiceCount !== undefined ? { choiceCount: lb.leastRequest.choiceCount } : {}),
      ...(lb?.leastRequest?.activeRequestBias !== undefined ? { activeRequestBias: lb.leastRequest.activeRequestBias } : {}),
    },
    split: backends(namespace, spec.split ?? []),
    routes: (spec.routes ?? []).map((route) => ({
      match: routeMatch(route.match),
      backends: backends(namespace, route.split ?? (route.backend ? [{ backend: route.backend, port: route.port, weight: 1 }] : [])),
    })),
    ...optional('rateLimit', spec.rateLimit ? requestLimit(spec.rateLimit) : undefined),
    ...optional('connectionLimit', spec.rateLimit?.connections ? connectionLimit(spec.rateLimit.connections) : undefined),
    ...optional('timeoutMs', ms(spec.timeout)),
    ...(retries
      ? {
          retries: {
            attempts: retries.attempts,
            ...(retries.retryOn?.length ? { retryOn: [...retries.retryOn] } : {}),
            ...optional('perTryTimeoutMs', ms(retries.perTryTimeout)),
          },
        }
      : {}),
    ...(breaker
      ? {
          circuitBreaker: {
            ...optional('maxConnections', breaker.maxConnections),
            ...optional('maxPendingRequests', breaker.maxPendingRequests),
            ...optional('maxRequests', breaker.maxRequests),
            ...optional('maxRetries', breaker.maxRetries),
          },
        }
      : {}),
    ...(outlier
      ? {
          outlierDetection: {
            ...optional('consecutive5xx', outlier.consecutive5xx),
            ...optional('intervalMs', ms(outlier.interval)),
            ...optional('baseEjectionTimeMs', ms(outlier.baseEjectionTime)),
            ...optional('maxEjectionPercent', outlier.maxEjectionPercent),
          },
        }
      : {}),
    ...(spec.healthCheck ? { healthCheck: healthCheck(spec.healthCheck) } : {}),
    preferLocalZone: spec.locality?.preferLocalZone === true,
    failoverZones: [...(spec.locality?.failoverZones ?? [])],
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

function ms(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseDuration(text);
}

function hashKey(entry: HashOnEntry): HashKey {
  const terminal = entry.terminal === true;
  if (entry.header) return { kind: 'header', name: entry.header.name, terminal };
  if (entry.sourceIP) return { kind: 'sourceIP', terminal };
  if (entry.cookie) {
    return {
      kind: 'cookie',
      name: entry.cookie.name,
      ...optional('ttlMs', ms(entry.cookie.ttl)),
      ...(entry.cookie.path ? { path: entry.cookie.path } : {}),
      terminal,
    };
  }
  return { kind: 'queryParameter', name: entry.queryParameter?.name ?? '', terminal };
}

function backends(namespace: string, entries: WeightedBackend[]): PolicyBackend[] {
  return entries.map((entry) => ({
    serviceKey: objectKey(namespace, entry.backend),
    name: entry.backend,
    ...(entry.port !== undefined ? { port: entry.port } : {}),
    weight: entry.weight,
  }));
}

function routeMatch(match: RouteMatchSpec | undefined): PolicyRouteMatch {
  const path = match?.path;
  const pathMatch: PathMatch =
    path?.exact !== undefined
      ? { kind: 'exact', value: path.exact }
      : path?.regex !== undefined
        ? { kind: 'regex', value: path.regex }
        : { kind: 'prefix', value: path?.prefix ?? '/' };
  const headers = (match?.headers ?? []).map((header): HeaderMatch => {
    if (header.exact !== undefined) return { kind: 'exact', name: header.name, value: header.exact };
    if (header.regex !== undefined) return { kind: 'regex', name: header.name, value: header.regex };
    return { kind: header.present === false ? 'absent' : 'present', name: header.name };
  });
  return { path: pathMatch, headers };
}

function healthCheck(hc: NonNullable<TrafficPolicySpec['healthCheck']>): PolicyHealthCheck {
  return {
    ...(hc.http ? { http: { path: hc.http.path, ...(hc.http.host !== undefined ? { host: hc.http.host } : {}) } } : {}),
    timeoutMs: ms(hc.timeout) ?? HEALTH_CHECK_DEFAULTS.timeoutMs,
    intervalMs: ms(hc.interval) ?? HEALTH_CHECK_DEFAULTS.intervalMs,
    healthyThreshold: hc.healthyThreshold ?? HEALTH_CHECK_DEFAULTS.healthyThreshold,
    unhealthyThreshold: hc.unhealthyThreshold ?? HEALTH_CHECK_DEFAULTS.unhealthyThreshold,
  };
}

/** A token bucket refilled with the rate every second or minute; burst defaults to the rate. */
function tokenBucket(perSecond: number | undefined, perMinute: number | undefined, burst: number | undefined): RateLimit | undefined {
  const tokensPerFill = perSecond ?? perMinute;
  if (tokensPerFill === undefined) return undefined;
  return { tokensPerFill, fillIntervalMs: perSecond !== undefined ? 1000 : 60_000, maxTokens: burst ?? tokensPerFill };
}

/** The request bucket of a (valid) rateLimit; undefined when it limits connections only. */
export function requestLimit(limit: NonNullable<TrafficPolicySpec['rateLimit']>): RateLimit | undefined {
  return tokenBucket(limit.requestsPerSecond, limit.requestsPerMinute, limit.burst);
}

/** The connection bucket of a (valid) rateLimit.connections. */
export function connectionLimit(limit: NonNullable<NonNullable<TrafficPolicySpec['rateLimit']>['connections']>): RateLimit | undefined {
  return tokenBucket(limit.perSecond, limit.perMinute, limit.burst);
}
