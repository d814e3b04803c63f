// Settings of the translator. Every field has a default; callers override what they need.
import { baselineShape, type ServedShape } from '../clients/index.js';

export type ProxyRole = 'sidecar' | 'proxyless';

export interface TranslateOptions {
  /** Auto picks maglev over ring_hash from this many endpoints on (and none draining). */
  maglevMinEndpoints: number;
  /** Emit the old `lb_policy` enum and its *_lb_config instead of `load_balancing_policy` (old Envoys). Sidecars only. */
  legacyLbPolicy: boolean;
  connectTimeoutMs: number;
  /** The sidecar's outbound HTTP listener. */
  outboundHttpPort: number;
  outboundAddress: string;
  /**
   * Traffic is redirected to the sidecar (iptables): outbound-http uses the original destination
   * to hand TCP connections to the TCP listener of the Service's cluster IP. Without it, each TCP
   * Service port gets a listener bound on `outboundAddress:<port>`.
   */
  captureOriginalDst: boolean;
  clusterDomain: string;
  /** Ingresses with this `ingressClassName` are ours (as are those of an IngressClass naming our controller). */
  ingressClass: string;
  /** Gateway listeners: `gateway/<name>/<port>` bound on `gatewayAddress`. */
  gatewayAddress: string;
  gatewayHttpPort: number;
  gatewayHttpsPort: number;
  /** What the group's clients understand (client profiles); unset: the role's full-featured client. */
  served?: ServedShape;
}

/** The shape translation serves a role with these options. */
export function servedShapeOf(role: ProxyRole, options: TranslateOptions): ServedShape {
  return options.served ?? baselineShape(role);
}

export const DEFAULT_TRANSLATE_OPTIONS: Readonly<TranslateOptions> = Object.freeze({
  maglevMinEndpoints: 8,
  legacyLbPolicy: false,
  connectTimeoutMs: 5000,
  outboundHttpPort: 15001,
  outboundAddress: '127.0.0.1',
  captureOriginalDst: false,
  clusterDomain: 'cluster.local',
  ingressClass: 'switchyard',
  gatewayAddress: '0.0.0.0',
  gatewayHttpPort: 8080,
  gatewayHttpsPort: 8443,
});

/** The defaults with `overrides` on top; an override left undefined (a flag not given) keeps its default. */
export function translateOptions(overrides: Partial<TranslateOptions> = {}): TranslateOptions {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  return { ...DEFAULT_TRANSLATE_OPTIONS, ...given };
}
