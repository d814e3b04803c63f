// Local rate limits. A TrafficPolicy's request limit becomes Envoy's HTTP local_ratelimit filter,
// configured per route (typed_per_filter_config): at gateways on the routes that send to its
// Service, or for Gateway API on a route's Envoy routes or a listener's virtual hosts; at sidecars
// on the inbound route of each HTTP port of the Service's pods. The filter in the connection
// manager is inert on its own; only routes carrying a token bucket are limited. Requests over the
// limit get 429 with x-ratelimit-* headers. A connection limit becomes the network local_ratelimit
// filter on the inbound chains of the Service's TCP ports, before the TCP proxy.
import { protoDuration, type MeshModel, type RateLimit } from '../model/index.js';

export const LOCAL_RATE_LIMIT_FILTER = 'envoy.filters.http.local_ratelimit';
const LOCAL_RATE_LIMIT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
export const CONNECTION_RATE_LIMIT_FILTER = 'envoy.filters.network.local_ratelimit';
const CONNECTION_RATE_LIMIT_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit';
const ALWAYS = { numerator: 100, denominator: 'HUNDRED' };

/** The connection manager's filter entry (goes before the router). */
export function localRateLimitHttpFilter(): Record<string, unknown> {
  return { name: LOCAL_RATE_LIMIT_FILTER, typedConfig: { '@type': LOCAL_RATE_LIMIT_TYPE, statPrefix: 'local_rate_limit' } };
}

/** `typedPerFilterConfig` for a route to this Service, or {} when its policy sets no request limit. */
export function routeRateLimit(model: MeshModel, serviceKey: string): Record<string, unknown> {
  const limit = model.servicePolicy(serviceKey)?.rateLimit;
  return limit ? perFilterConfig(`rate_limit_${serviceKey.replace('/', '_')}`, limit) : {};
}

function tokenBucket(limit: RateLimit): Record<string, unknown> {
  return { maxTokens: limit.maxTokens, tokensPerFill: { value: limit.tokensPerFill }, fillInterval: protoDuration(limit.fillIntervalMs) };
}

/**
 * `typedPerFilterConfig` carrying one token bucket (on a route or a virtual host: Envoy takes the
 * most specific one, and a virtual host's bucket is shared by its routes that carry none).
 */
export function perFilterConfig(statPrefix: string, limit: RateLimit): Record<string, unknown> {
  return {
    typedPerFilterConfig: {
      [LOCAL_RATE_LIMIT_FILTER]: {
        '@type': LOCAL_RATE_LIMIT_TYPE,
        statPrefix,
        tokenBucket: tokenBucket(limit),
        filterEnabled: { defaultValue: ALWAYS, runtimeKey: 'local_rate_limit_enabled' },
        filterEnforced: { defaultValue: ALWAYS, runtimeKey: 'local_rate_limit_enforced' },
        enableXRatelimitHeaders: 'DRAFT_VERSION_03',
      },
    },
  };
}

/**
 * The network filter closing connections over the limit (before the TCP proxy). Each filter chain
 * would have its own bucket; `shareKey` makes the chains of one port (TLS and plain text) share one.
 */
export function connectionRateLimitFilter(statPrefix: string, shareKey: string, limit: RateLimit): Record<string, unknown> {
  return {
    name: CONNECTION_RATE_LIMIT_FILTER,
    typedConfig: { '@type': CONNECTION_RATE_LIMIT_TYPE, statPrefix, tokenBucket: tokenBucket(limit), shareKey },
  };
}

/** Whether any virtual host or route of a route configuration value carries a rate limit (its listener then needs the filter). */
export function usesRateLimit(config: unknown): boolean {
  type PerFilter = { typedPerFilterConfig?: Record<string, unknown> };
  const value = config as { virtualHosts?: Array<PerFilter & { routes?: PerFilter[] }> };
  const limited = (entry: PerFilter) => entry.typedPerFilterConfig?.[LOCAL_RATE_LIMIT_FILTER] !== undefined;
  return (value.virtualHosts ?? []).some((vh) => limited(vh) || (vh.routes ?? []).some(limited));
}
