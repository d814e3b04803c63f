// The HTTP connection manager of every gateway listener (Ingress and Gateway API gateways).
import { localRateLimitHttpFilter } from './rate-limit.js';

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

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
    httpFilters: [
      ...(rateLimited ? [localRateLimitHttpFilter()] : []),
      { name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER_TYPE } },
    ],
  };
}
