// Small, valid Envoy resources for the cache and xDS server tests, and a server+cache harness.
import { ResourceCache } from '../../src/cache/cache.js';
import { SIDECAR_GROUP, type GroupChange } from '../../src/cache/types.js';
import { TypeUrl, type XdsResource } from '../../src/envoy/protos.js';
import { XdsServer, type XdsServerOptions } from '../../src/xds/server.js';

export function cluster(name: string, connectTimeoutSeconds = 1): XdsResource {
  return {
    typeUrl: TypeUrl.Cluster,
    name,
    value: {
      name,
      type: 'EDS',
      connectTimeout: { seconds: connectTimeoutSeconds },
      edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    },
  };
}

export function endpoints(clusterName: string, ...addresses: string[]): XdsResource {
  return {
    typeUrl: TypeUrl.ClusterLoadAssignment,
    name: clusterName,
    value: {
      clusterName,
      endpoints: [
        {
          lbEndpoints: addresses.map((address) => ({
            endpoint: { address: { socketAddress: { address, portValue: 8080 } } },
          })),
        },
      ],
    },
  };
}

/** Sets the sidecar group's assignments `names` to one endpoint at `address`, through whatever applies cache changes (a fake stream). */
export function setEndpoints(target: { apply(changes: GroupChange[]): unknown }, names: string[], address: string): void {
  target.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: names.map((n) => endpoints(n, address)) }]);
}

export function listener(name: string, routeConfigName: string, port = 15001): XdsResource {
  return {
    typeUrl: TypeUrl.Listener,
    name,
    value: {
      name,
      address: { socketAddress: { address: '0.0.0.0', portValue: port } },
      filterChains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typedConfig: {
                '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                statPrefix: name,
                rds: { routeConfigName, configSource: { ads: {}, resourceApiVersion: 'V3' } },
                httpFilters: [
                  {
                    name: 'envoy.filters.http.router',
                    typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                  },
                ],
              },
            },
          ],
        },
      ],
    },
  };
}

export function route(name: string, clusterName: string): XdsResource {
  return {
    typeUrl: TypeUrl.RouteConfiguration,
    name,
    value: {
      name,
      virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }] }],
    },
  };
}

export function secret(name: string, value: string): XdsResource {
  return {
    typeUrl: TypeUrl.Secret,
    name,
    value: { name, genericSecret: { secret: { inlineString: value } } },
  };
}

/** A cache and a started server on an ephemeral loopback port. */
export async function startServer(
  options: Partial<XdsServerOptions> & { gated?: boolean } = {},
): Promise<{ cache: ResourceCache; server: XdsServer; port: number }> {
  const cache = (options.cache as ResourceCache | undefined) ?? new ResourceCache();
  const server = new XdsServer({ ...options, cache });
  if (!options.gated && !options.ready) server.setReady();
  const port = await server.start(0);
  return { cache, server, port };
}
