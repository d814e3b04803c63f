// The consistency check the golden pairs run over every output: it must find each kind of
// dangling name, and pass a group whose names all resolve.
import { danglingReferences, describeDangling, duplicateChainMatches, type GroupResources } from '../../src/translate/consistency.js';
import { cluster, endpoints, listener, route } from '../support/xds-fixtures.js';
import { TypeUrl } from '../../src/envoy/protos.js';

function group(parts: Partial<GroupResources>): GroupResources {
  return { clusters: [], endpoints: [], routes: [], listeners: [], secrets: [], ...parts };
}

describe('consistency check', () => {
  it('passes a group whose listener, route, cluster and assignment all resolve', () => {
    const consistent = group({
      listeners: [listener('outbound-http', 'outbound')],
      routes: [route('outbound', 'shop/cart/8080')],
      clusters: [cluster('shop/cart/8080')],
      endpoints: [endpoints('shop/cart/8080', '10.0.0.1')],
    });
    expect(danglingReferences(consistent)).toEqual([]);
  });

  it('does not ask for secrets Envoy reads from files in the pod (file-based SDS), only for those served over ADS', () => {
    const inbound = {
      typeUrl: TypeUrl.Listener,
      name: 'inbound',
      value: {
        name: 'inbound',
        filterChains: [
          {
            transportSocket: {
              name: 'envoy.transport_sockets.tls',
              typedConfig: {
                commonTlsContext: {
                  tlsCertificateSdsSecretConfigs: [
                    { name: 'workload-certificate', sdsConfig: { pathConfigSource: { path: '/etc/envoy/workload-certificate.yaml' } } },
                    { name: 'shop/tls', sdsConfig: { ads: {} } },
                  ],
                },
              },
            },
          },
        ],
      },
    };
    expect(danglingReferences(group({ listeners: [inbound] })).map(describeDangling)).toEqual([
      'Listener inbound names secret "shop/tls", which the group does not have',
    ]);
  });

  it('names each missing route configuration, cluster, assignment and secret with what names it', () => {
    const https = {
      typeUrl: TypeUrl.Listener,
      name: 'gateway/edge/8443',
      value: {
        name: 'gateway/edge/8443',
        filterChains: [
          {
            transportSocket: {
              typedConfig: { commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: 'shop/tls', sdsConfig: { ads: {} } }] } },
            },
          },
        ],
      },
    };
    const weighted = {
      typeUrl: TypeUrl.RouteConfiguration,
      name: 'outbound',
      value: {
        name: 'outbound',
        virtualHosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              {
                match: { prefix: '/' },
                route: {
                  weightedClusters: {
                    clusters: [
                      { name: 'shop/a/80', weight: 1 },
                      { name: 'shop/b/80', weight: 1 },
                    ],
                  },
                },
              },
            ],
          },
        ],
      },
    };
    const dangling = danglingReferences(
      group({
        listeners: [listener('outbound-http', 'missing-routes'), https],
        routes: [weighted],
        clusters: [cluster('shop/a/80')],
      }),
    );
    expect(dangling.map(describeDangling).sort()).toEqual([
      'Cluster shop/a/80 names endpoints "shop/a/80", which the group does not have',
      'Listener gateway/edge/8443 names secret "shop/tls", which the group does not have',
      'Listener outbound-http names routeConfiguration "missing-routes", which the group does not have',
      'RouteConfiguration outbound names cluster "shop/b/80", which the group does not have',
    ]);
  });
});

describe('duplicateChainMatches', () => {
  const chain = (name: string, port: number, ips: string[]) => ({
    name,
    filterChainMatch: {
      destinationPort: { value: port },
      prefixRanges: ips.map((ip) => ({ addressPrefix: ip, prefixLen: { value: 32 } })),
    },
  });
  const chains = (...filterChains: object[]) => ({
    typeUrl: TypeUrl.Listener,
    name: 'outbound',
    value: { name: 'outbound', filterChains },
  });

  it('finds two chains that share one destination address and port, even inside larger range lists', () => {
    const duplicates = duplicateChainMatches(chains(chain('http/80', 80, ['10.0.0.1', '10.0.0.2']), chain('shop/db/80', 80, ['10.0.0.2'])));
    expect(duplicates).toEqual(['Listener outbound: chains http/80 and shop/db/80 both match port 80, destination 10.0.0.2/32, []']);
  });

  it('accepts the same address on two ports, and a port-only chain beside address chains on that port', () => {
    const port = { name: 'self', filterChainMatch: { destinationPort: { value: 80 } } };
    expect(duplicateChainMatches(chains(chain('a', 80, ['10.0.0.1']), chain('b', 81, ['10.0.0.1']), port))).toEqual([]);
  });
});
