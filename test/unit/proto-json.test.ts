import { bytesToProto3Json, formatDuration, toProto3Json } from '../../src/envoy/proto-json.js';
import { encodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { translateAll } from '../../src/translate/index.js';
import { exampleModel } from '../support/builders.js';

const MAGLEV = 'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

describe('proto3 JSON in Envoy config-dump form', () => {
  const cluster = {
    name: 'shop/catalog/80',
    type: 'EDS',
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    connectTimeout: { seconds: 5 },
    loadBalancingPolicy: {
      policies: [
        {
          typedExtensionConfig: {
            name: 'envoy.load_balancing_policies.maglev',
            typedConfig: { '@type': MAGLEV, tableSize: { value: 65537 } },
          },
        },
      ],
    },
    circuitBreakers: { thresholds: [{ priority: 'DEFAULT', maxConnections: { value: 1000 } }] },
    outlierDetection: { consecutive_5xx: { value: 5 }, baseEjectionTime: { seconds: 0, nanos: 250_000_000 } },
    lbPolicy: 'ROUND_ROBIN',
  };

  it('prints Durations, wrappers, 64-bit ints, enums and Any the way Envoy does', () => {
    const json = toProto3Json(TypeUrl.Cluster, cluster) as any;
    expect(json['@type']).toBe(TypeUrl.Cluster);
    expect(json.name).toBe('shop/catalog/80');
    expect(json.type).toBe('EDS');
    expect(json.connect_timeout).toBe('5s');
    expect(json.eds_cluster_config).toEqual({ eds_config: { ads: {}, resource_api_version: 'V3' } });
    const typed = json.load_balancing_policy.policies[0].typed_extension_config.typed_config;
    expect(typed).toEqual({ '@type': MAGLEV, table_size: '65537' });
    expect(json.circuit_breakers.thresholds[0]).toEqual({ max_connections: 1000 });
    expect(json.outlier_detection).toEqual({ consecutive_5xx: 5, base_ejection_time: '0.250s' });
    // ROUND_ROBIN is the enum's default: left out, like every other default value.
    expect(json.lb_policy).toBeUndefined();
  });

  it('gives every Any its @type, however deep, and offers json names', () => {
    const listener = {
      name: 'reviews.shop:9080',
      apiListener: {
        apiListener: {
          '@type': HCM,
          statPrefix: 'proxyless',
          rds: { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName: 'reviews.shop.svc.cluster.local:9080' },
          httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER } }],
        },
      },
      bindToPort: { value: false },
    };
    const json = toProto3Json(TypeUrl.Listener, listener) as any;
    const hcm = json.api_listener.api_listener;
    expect(hcm['@type']).toBe(HCM);
    expect(hcm.rds.route_config_name).toBe('reviews.shop.svc.cluster.local:9080');
    expect(hcm.http_filters[0].typed_config).toEqual({ '@type': ROUTER });
    expect(json.bind_to_port).toBe(false);
    const camel = toProto3Json(TypeUrl.Cluster, cluster, { fieldNames: 'json' }) as any;
    expect(camel.connectTimeout).toBe('5s');
    expect(camel.outlierDetection.consecutive5xx).toBe(5);
  });

  it('reads the bytes a proxy receives and rejects misspelt fields', () => {
    const bytes = encodeMessage(TypeUrl.ClusterLoadAssignment, {
      clusterName: 'shop/cart/8080',
      endpoints: [
        {
          locality: { zone: 'zone-a' },
          loadBalancingWeight: { value: 2 },
          priority: 0,
          lbEndpoints: [{ healthStatus: 'DRAINING', endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 8081 } } } }],
        },
      ],
    });
    const json = bytesToProto3Json(TypeUrl.ClusterLoadAssignment, bytes) as any;
    expect(json.endpoints[0]).toEqual({
      locality: { zone: 'zone-a' },
      load_balancing_weight: 2,
      lb_endpoints: [{ health_status: 'DRAINING', endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 8081 } } } }],
    });
    expect(() => toProto3Json(TypeUrl.Cluster, { nmae: 'x' })).toThrow(/nmae/);
  });

  it('formats Durations with 0, 3, 6 or 9 fractional digits', () => {
    expect(formatDuration(0, 0)).toBe('0s');
    expect(formatDuration('3600', 0)).toBe('3600s');
    expect(formatDuration(1, 500_000_000)).toBe('1.500s');
    expect(formatDuration(0, 1500)).toBe('0.000001500s');
    expect(formatDuration(0, 2000)).toBe('0.000002s');
    expect(formatDuration(-1, -500_000_000)).toBe('-1.500s');
  });

  it('prints every resource translated from the examples, with no camelCase field left', () => {
    const model = exampleModel();
    const { clusters, endpoints, routes, listeners } = translateAll(model, 'sidecar');
    const printed = [...clusters, ...endpoints, ...routes, ...listeners].map((r) => toProto3Json(r.typeUrl, r.value));
    const keys = new Set<string>();
    const collect = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === 'object')
        for (const [k, child] of Object.entries(v)) {
          keys.add(k);
          collect(child);
        }
    };
    collect(printed);
    // Map keys (typed_extension_protocol_options) are names, not fields.
    const camel = [...keys].filter((k) => /[a-z][A-Z]/.test(k) && !k.startsWith('envoy.'));
    expect(camel).toEqual([]);
    const checkout = printed.find((p: any) => p.name === 'shop/checkout/8080') as any;
    expect(checkout.health_checks[0]).toMatchObject({
      interval: '5s',
      timeout: '1s',
      healthy_threshold: 2,
      http_health_check: { path: '/healthz' },
    });
  });
});
