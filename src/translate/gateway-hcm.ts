// The HTTP connection manager of every gateway listener (Ingress and Gateway API gateways).
import { localRateLimitHttpFilter } from './rate-limit.js';
import { baselineShape } from '../clients/index.js';
import { HCM_TYPE, ROUTER_FILTER } from './envoy-filters.js';

/** Gateways are Envoys: they get the sidecar's full-featured shape. */
export const GATEWAY_SHAPE = baselineShape('sidecar');

/** Routes over RDS; the local rate limit filter only when a route of the configuration carries a limit. */
export function gatewayConnectionManager(statPrefix: string, routeConfigName: string, rateLimited = false): Record<string, unknown> {
  return {
    '@type': HCM_TYPE,
    statPrefix,
    rds: { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName },
    // Clients may send `host:port`; virtual hosts list bare host names.
    stripAnyHostPort: true,
    // The edge: the peer's address is the client, not a hop to trust.
    useRemoteAddress: { value: true },
    httpFilters: [...(rateLimited ? [localRateLimitHttpFilter()] : []), ROUTER_FILTER],
  };
}
