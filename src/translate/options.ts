// Settings of the translator. Every field has a default; callers override what they need.
import { baselineShape, type ServedShape } from '../clients/index.js';
import { DEFAULT_INGRESS_CLASS, type MtlsMode } from '../model/index.js';

export type ProxyRole = 'sidecar' | 'proxyless';

export type OutboundTraffic = 'allow-any' | 'registry-only';

export interface TranslateOptions {
  /** Auto picks maglev over ring_hash from this many endpoints on (and none draining). */
  maglevMinEndpoints: number;
  /** Emit the old `lb_policy` enum and its *_lb_config instead of `load_balancing_policy` (old Envoys). Sidecars only. */
  legacyLbPolicy: boolean;
  connectTimeoutMs: number;
  /** The sidecar's virtual outbound listener, where the capture rules redirect outbound TCP. */
  outboundPort: number;
  /** The sidecar's virtual inbound listener, where the capture rules redirect inbound TCP. */
  inboundPort: number;
  /**
   * Where captured connections to no Service go: `allow-any` to their original destination
   * (databases, cloud APIs outside the mesh keep working), `registry-only` nowhere (closed).
   */
  outboundTraffic: OutboundTraffic;
  clusterDomain: string;
  /** The SPIFFE trust domain of workload identities (spiffe://<trustDomain>/ns/<namespace>/sa/<account>). */
  trustDomain: string;
  /** The mesh-wide mTLS mode of a Service no AccessPolicy sets one for. */
  mtlsMode: MtlsMode;
  /** Ingresses with this `ingressClassName` are ours (as are those of an IngressClass naming our controller). */
  ingressClass: string;
  /** Gateway listeners: `gateway/<name>/<port>` bound on `gatewayAddress`. */
  gatewayAddress: string;
  gatewayHttpPort: number;
  gatewayHttpsPort: number;
  /** What the group's clients understand (client profiles); unset: the role's full-featured client. */
  served?: ServedShape;
  /**
   * Sidecars: the Services the group's egress scope reaches (`MeshModel.scopeReach`); unset: every
   * Service. Others get no cluster, route or listener chain: their traffic takes the default chain.
   */
  reach?: ReadonlySet<string>;
}

/** The shape translation serves a role with these options. */
export function servedShapeOf(role: ProxyRole, options: TranslateOptions): ServedShape {
  return options.served ?? baselineShape(role);
}

export const DEFAULT_TRANSLATE_OPTIONS: Readonly<TranslateOptions> = Object.freeze({
  maglevMinEndpoints: 8,
  legacyLbPolicy: false,
  connectTimeoutMs: 5000,
  outboundPort: 15001,
  inboundPort: 15006,
  outboundTraffic: 'allow-any',
  clusterDomain: 'cluster.local',
  trustDomain: 'cluster.local',
  mtlsMode: 'Permissive',
  ingressClass: DEFAULT_INGRESS_CLASS,
  gatewayAddress: '0.0.0.0',
  gatewayHttpPort: 8080,
  gatewayHttpsPort: 8443,
});

/** Options this function made: complete already (nothing changes them), so taken as they are when passed again. */
const complete = new WeakSet<object>();

/** The defaults with `overrides` on top; an override left undefined (a flag not given) keeps its default. */
export function translateOptions(overrides: Partial<TranslateOptions> = {}): TranslateOptions {
  // The pipeline passes the same options for each of its Services: 10,000 times for a large mesh.
  if (complete.has(overrides)) return overrides as TranslateOptions;
  const options: Record<string, unknown> = { ...DEFAULT_TRANSLATE_OPTIONS };
  for (const key of Object.keys(overrides)) {
    const value = (overrides as Record<string, unknown>)[key];
    if (value !== undefined) options[key] = value;
  }
  complete.add(options);
  return options as unknown as TranslateOptions;
}
