// One Cluster per Service port: EDS over ADS, HTTP/2 upstreams for gRPC and h2c ports, the
// TrafficPolicy's circuit breakers, outlier detection and health checks, and the LB policy.
import { protoDuration, type MeshModel, type ServiceInfo, type ServicePolicy, type ServicePortInfo } from '../model/index.js';
import { proxylessUpstreamTransportSocket, rolloutTransportSocketMatches, upstreamMeshTransportSocket } from './mesh-tls.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { deepFreeze, sharedFrozen } from '../envoy/frozen.js';
import { chooseLb, clusterLbFields, type LbChoice } from './lb-policy.js';
import { BLACKHOLE_CLUSTER, clusterName, isHttpPort, PASSTHROUGH_CLUSTER } from './names.js';
import { SharedPartsCluster } from './cluster-bytes.js';
import { servedShapeOf, type ProxyRole, type TranslateOptions } from './options.js';

const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

// Parts every Service's Cluster has alike: one frozen object each, so the encoder and the
// validation rules work each out once rather than once per Cluster (see envoy/frozen.ts).
const EDS_OVER_ADS = deepFreeze({ edsConfig: { ads: {}, resourceApiVersion: 'V3' } });
const durations = new Map<number, object>();

function sharedDuration(ms: number): object {
  return sharedFrozen(durations, ms, () => protoDuration(ms));
}

/** The LB choice for one Service port, from its policy and its endpoints (Auto looks at both). */
export function lbChoiceFor(model: MeshModel, service: ServiceInfo, port: ServicePortInfo, options: TranslateOptions): LbChoice {
  const policy = model.servicePolicy(service.key);
  const endpoints = model.endpoints(service.key, port);
  let draining = 0;
  // Indexed: 100,000 endpoints at start-up, mostly before this is optimized, and for-of then makes an iterator result per endpoint.
  for (let i = 0; i < endpoints.length; i++) if (endpoints[i].health === 'draining') draining++;
  // A literal, not a spread: two choices per Service port at start-up.
  return chooseLb(
    { policy, clientIPAffinity: service.clientIPAffinity, healthyEndpoints: endpoints.length - draining, drainingEndpoints: draining },
    options,
  );
}

/** The ports a role gets clusters for: proxyless gRPC clients only speak HTTP/2. */
export function portsForRole(service: ServiceInfo, role: ProxyRole): ServicePortInfo[] {
  return role === 'proxyless' ? service.ports.filter(isHttpPort) : service.ports;
}

export function buildServiceClusters(model: MeshModel, service: ServiceInfo, role: ProxyRole, options: TranslateOptions): XdsResource[] {
  const policy = model.servicePolicy(service.key);
  // A Service whose pods all terminate mutual TLS is reached over it, with the caller's workload
  // certificate, checking the pods' identities: by Envoy (sidecars, gateways) through SDS files,
  // by proxyless gRPC through its certificate provider — only when its bootstrap has one.
  const tls = role === 'sidecar' || servedShapeOf(role, options).workloadTls;
  const destination = tls ? model.meshDestination(service.key) : undefined;
  // Mid-rollout, Envoy (sidecars and gateways) chooses per endpoint: mutual TLS to the pods that
  // terminate it, plain text to the others. gRPC cannot (no transport_socket_matches): plain text.
  const rollout = role === 'sidecar' && !destination ? model.meshRollout(service.key) : undefined;
  return portsForRole(service, role).map((port) => {
    const http2 = port.protocol === 'grpc' || port.protocol === 'http2';
    const name = clusterName(service.key, port.port);
    const choice = lbChoiceFor(model, service, port, options);
    const lbFields = clusterLbFields(choice, policy, role, options);
    const policyFields = policyClusterFields(policy, port, role);
    // Without mesh TLS, a rollout or a policy's breakers and checks, everything but the name is
    // shared (most Clusters of a large mesh).
    if (!destination && !rollout && isEmpty(policyFields)) {
      return new SharedPartsCluster(name, sharedParts(lbFields, options.connectTimeoutMs, http2));
    }
    const value = {
      name,
      type: 'EDS',
      edsClusterConfig: EDS_OVER_ADS,
      connectTimeout: sharedDuration(options.connectTimeoutMs),
      ...lbFields,
      ...(http2 ? http2Upstream() : {}),
      ...policyFields,
      ...(destination
        ? {
            transportSocket:
              role === 'proxyless'
                ? proxylessUpstreamTransportSocket(options.trustDomain, destination)
                : upstreamMeshTransportSocket(options.trustDomain, destination, http2),
          }
        : {}),
      ...(rollout ? { transportSocketMatches: rolloutTransportSocketMatches(options.trustDomain, rollout, http2) } : {}),
    };
    return { typeUrl: TypeUrl.Cluster, name, value };
  });
}

/** By the shared load-balancing fields, then timeout and protocol: a Cluster's fields other than its name. */
const sharedPartsByLb = new WeakMap<object, Map<string, object>>();

/** The fields of a Cluster without a policy, mesh TLS or rollout, but its name: one frozen object per combination. */
function sharedParts(lbFields: Record<string, unknown>, connectTimeoutMs: number, http2: boolean): object {
  let byRest = sharedPartsByLb.get(lbFields);
  if (!byRest) sharedPartsByLb.set(lbFields, (byRest = new Map()));
  // In the order the general path writes them (the plain object's keys keep it).
  return sharedFrozen(byRest, `${connectTimeoutMs}|${http2}`, () => ({
    type: 'EDS',
    edsClusterConfig: EDS_OVER_ADS,
    connectTimeout: sharedDuration(connectTimeoutMs),
    ...lbFields,
    ...(http2 ? http2Upstream() : {}),
  }));
}

/**
 * The sidecar's clusters that are no Service: `passthrough` (ORIGINAL_DST: on to the address the
 * application dialled, in the protocol it spoke) and `blackhole` (no endpoints: closed).
 */
export function buildSidecarBaseClusters(options: TranslateOptions): XdsResource[] {
  // The same objects for every group and flush: the cache encodes a value object once.
  let built = baseClustersByTimeout.get(options.connectTimeoutMs);
  if (!built) baseClustersByTimeout.set(options.connectTimeoutMs, (built = baseClusters(options.connectTimeoutMs)));
  return [...built];
}

const baseClustersByTimeout = new Map<number, XdsResource[]>();

function baseClusters(connectTimeoutMs: number): XdsResource[] {
  const connectTimeout = protoDuration(connectTimeoutMs);
  return [
    {
      typeUrl: TypeUrl.Cluster,
      name: BLACKHOLE_CLUSTER,
      value: { name: BLACKHOLE_CLUSTER, type: 'STATIC', connectTimeout },
    },
    {
      typeUrl: TypeUrl.Cluster,
      name: PASSTHROUGH_CLUSTER,
      value: {
        name: PASSTHROUGH_CLUSTER,
        type: 'ORIGINAL_DST',
        lbPolicy: 'CLUSTER_PROVIDED',
        connectTimeout,
        typedExtensionProtocolOptions: {
          [HTTP_PROTOCOL_OPTIONS]: {
            '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`,
            useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} },
          },
        },
      },
    },
  ];
}

export function http2Upstream(): Record<string, unknown> {
  return {
    typedExtensionProtocolOptions: {
      [HTTP_PROTOCOL_OPTIONS]: {
        '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`,
        explicitHttpConfig: { http2ProtocolOptions: {} },
      },
    },
  };
}

function duration(ms: number | undefined): { seconds: number; nanos?: number } | undefined {
  return ms !== undefined ? protoDuration(ms) : undefined;
}

function wrapped(value: number | undefined): { value: number } | undefined {
  return value === undefined ? undefined : { value };
}

function isEmpty(fields: Record<string, unknown>): boolean {
  for (const key in fields) if (fields[key] !== undefined) return false;
  return true;
}

/** Drops undefined fields, so the object holds only what encodes. */
function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

function policyClusterFields(policy: ServicePolicy | undefined, port: ServicePortInfo, role: ProxyRole): Record<string, unknown> {
  if (!policy) return {};
  const fields: Record<string, unknown> = {};
  const breaker = policy.circuitBreaker;
  if (breaker) {
    fields.circuitBreakers = {
      thresholds: [
        defined({
          priority: 'DEFAULT',
          maxConnections: wrapped(breaker.maxConnections),
          maxPendingRequests: wrapped(breaker.maxPendingRequests),
          maxRequests: wrapped(breaker.maxRequests),
          maxRetries: wrapped(breaker.maxRetries),
        }),
      ],
    };
  }
  const outlier = policy.outlierDetection;
  if (outlier) {
    fields.outlierDetection = defined({
      consecutive_5xx: wrapped(outlier.consecutive5xx),
      interval: duration(outlier.intervalMs),
      baseEjectionTime: duration(outlier.baseEjectionTimeMs),
      maxEjectionPercent: wrapped(outlier.maxEjectionPercent),
      // The policy asks for consecutive-5xx ejection only. gRPC turns success-rate ejection on
      // unless it is 0 and then crashes in its check (grpc-js-xds leaves minimum_hosts unset).
      ...(role === 'proxyless' ? { enforcingSuccessRate: { value: 0 } } : {}),
    });
  }
  const hc = policy.healthCheck;
  if (hc) {
    // The model filled in what the policy left out: Envoy requires all four.
    const check: Record<string, unknown> = {
      timeout: protoDuration(hc.timeoutMs),
      interval: protoDuration(hc.intervalMs),
      healthyThreshold: { value: hc.healthyThreshold },
      unhealthyThreshold: { value: hc.unhealthyThreshold },
    };
    // An HTTP check only where the port speaks HTTP: sent to a TCP port (a Redis, a database) it
    // would mark every host unhealthy. There the policy's check becomes a TCP connect check, which
    // still takes hosts that stop listening out of rotation.
    if (hc.http && isHttpPort(port)) {
      check.httpHealthCheck = defined({
        path: hc.http.path,
        host: hc.http.host,
        codecClientType: port.protocol === 'grpc' || port.protocol === 'http2' ? 'HTTP2' : undefined,
      });
    } else {
      check.tcpHealthCheck = {};
    }
    fields.healthChecks = [check];
  }
  return fields;
}
