// The proxyless resources go through @grpc/grpc-js-xds's own resource validation: what a real
// gRPC client does with a CDS / EDS / LDS / RDS response before it ACKs (or NACKs) it.
import { translateAll } from '../../src/translate/index.js';
import {
  ClusterResourceType,
  EndpointResourceType,
  ListenerResourceType,
  RouteConfigurationResourceType,
  exampleModel,
  grpcDecode,
  registerGrpcXds,
} from '../support/grpc-xds-decode.js';

describe('proxyless resources as gRPC validates them', () => {
  beforeAll(() => registerGrpcXds());
  const resources = translateAll(exampleModel(), 'proxyless');

  it('accepts every cluster and takes a policy it knows from each list', () => {
    for (const cluster of resources.clusters) {
      const decoded = grpcDecode(ClusterResourceType.get(), cluster);
      expect({ name: cluster.name, error: decoded.error }).toEqual({ name: cluster.name, error: undefined });
    }
    const catalog = grpcDecode(
      ClusterResourceType.get(),
      resources.clusters.find((c) => c.name === 'shop/catalog/80')!,
    );
    expect(JSON.stringify(catalog.value.lbPolicyConfig)).toContain('ring_hash');
    const payments = grpcDecode(
      ClusterResourceType.get(),
      resources.clusters.find((c) => c.name === 'shop/payments/50051')!,
    );
    expect(JSON.stringify(payments.value.lbPolicyConfig)).toContain('round_robin');
  });

  it('accepts every endpoint assignment, listener and route configuration', () => {
    for (const [type, list] of [
      [EndpointResourceType.get(), resources.endpoints],
      [ListenerResourceType.get(), resources.listeners],
      [RouteConfigurationResourceType.get(), resources.routes],
    ] as const) {
      for (const resource of list) {
        const decoded = grpcDecode(type, resource);
        expect({ name: resource.name, error: decoded.error }).toEqual({ name: resource.name, error: undefined });
      }
    }
  });
});
