// The load-balancing settings a user writes in a TrafficPolicy reach the clients that can use
// them, and stay away from the ones that cannot.
import { MeshModel } from '../../src/model/index.js';
import { degradationsFor, translateAll } from '../../src/translate/index.js';
import { clientProfile, identifyClient } from '../../src/clients/index.js';
import { policy, service, upsert } from '../support/builders.js';

function modelWith(spec: object): MeshModel {
  const model = new MeshModel();
  model.apply([upsert(service('api')), upsert(policy('api', { targetRef: { kind: 'Service', name: 'api' }, ...spec }))]);
  return model;
}

function typedConfigs(spec: object, role: 'sidecar' | 'proxyless' = 'sidecar'): Record<string, any> {
  const cluster = translateAll(modelWith(spec), role).clusters.find((c) => c.name === 'shop/api/8080')!.value as any;
  return Object.fromEntries(
    cluster.loadBalancingPolicy.policies.map((p: any) => [
      p.typedExtensionConfig.name.replace('envoy.load_balancing_policies.', ''),
      p.typedExtensionConfig.typedConfig,
    ]),
  );
}

describe('least request settings', () => {
  const spec = { loadBalancer: { policy: 'LeastRequest', leastRequest: { choiceCount: 3, activeRequestBias: 1.5 } } };

  it('carry choiceCount and activeRequestBias to the typed config', () => {
    const config = typedConfigs(spec).least_request;
    expect(config.choiceCount).toEqual({ value: 3 });
    expect(config.activeRequestBias).toEqual({ defaultValue: 1.5, runtimeKey: 'switchyard.least_request.active_request_bias' });
  });

  it('carry them to the legacy config too', () => {
    const cluster = translateAll(modelWith(spec), 'sidecar', { legacyLbPolicy: true }).clusters.find((c) => c.name === 'shop/api/8080')!
      .value as any;
    expect(cluster.leastRequestLbConfig).toEqual({
      choiceCount: { value: 3 },
      activeRequestBias: { defaultValue: 1.5, runtimeKey: 'switchyard.least_request.active_request_bias' },
    });
  });

  it('are left out when not set, so Envoy keeps its defaults', () => {
    const config = typedConfigs({ loadBalancer: { policy: 'LeastRequest' } }).least_request;
    expect(config.choiceCount).toBeUndefined();
    expect(config.activeRequestBias).toBeUndefined();
  });
});

describe('zone preference', () => {
  it('applies to the policies that pick any host', () => {
    for (const policy of ['LeastRequest', 'RoundRobin', 'Random']) {
      const configs = typedConfigs({ loadBalancer: { policy }, locality: { preferLocalZone: true } });
      for (const config of Object.values(configs)) expect(config.localityLbConfig).toEqual({ zoneAwareLbConfig: {} });
    }
  });

  it("never applies to consistent hashing: a key's host must not depend on the caller's zone", () => {
    const configs = typedConfigs({
      loadBalancer: { policy: 'Maglev', hashOn: [{ header: { name: 'x-user' } }] },
      locality: { preferLocalZone: true },
    });
    expect(Object.keys(configs)).toEqual(['maglev', 'ring_hash']);
    for (const config of Object.values(configs)) expect(config.localityLbConfig).toBeUndefined();
  });

  it('is absent unless asked for', () => {
    expect(typedConfigs({ loadBalancer: { policy: 'RoundRobin' } }).round_robin.localityLbConfig).toBeUndefined();
  });
});

describe('ring hash sizes', () => {
  const spec = {
    loadBalancer: {
      policy: 'RingHash',
      ringHash: { minimumRingSize: 2048, maximumRingSize: 4096 },
      hashOn: [{ header: { name: 'x-user' } }],
    },
  };

  it('reach sidecars, with the hash function gRPC also accepts', () => {
    expect(typedConfigs(spec).ring_hash).toMatchObject({
      hashFunction: 'XX_HASH',
      minimumRingSize: { value: 2048 },
      maximumRingSize: { value: 4096 },
    });
  });

  it('are kept from proxyless clients, which NACK them (grpc-js-xds 1.14)', () => {
    const config = typedConfigs(spec, 'proxyless').ring_hash;
    expect(config.hashFunction).toBe('XX_HASH');
    expect(config.minimumRingSize).toBeUndefined();
    expect(config.maximumRingSize).toBeUndefined();
  });
});

describe('hash keys on proxyless routes', () => {
  it('keep headers, turn source IP into the channel id, and drop cookies and query parameters', () => {
    const model = modelWith({
      loadBalancer: {
        policy: 'RingHash',
        hashOn: [
          { cookie: { name: 'session' } },
          { header: { name: 'x-user' }, terminal: true },
          { queryParameter: { name: 'q' } },
          { sourceIP: {} },
        ],
      },
    });
    const routes = translateAll(model, 'proxyless').routes.map((r) => r.value as any);
    const vhost = routes.flatMap((r) => r.virtualHosts).find((v: any) => v.name === 'shop/api/8080');
    expect(vhost.routes.at(-1).route.hashPolicy).toEqual([
      { header: { headerName: 'x-user' }, terminal: true },
      { filterState: { key: 'io.grpc.channel_id' } },
    ]);
    // And the client is told, key by key, what became of what was asked.
    const grpcJs = clientProfile(identifyClient({ userAgentName: 'gRPC Node Pure JS', userAgentVersion: '1.14.1' }));
    const told = degradationsFor(model, 'proxyless', grpcJs).filter((d) => d.feature === 'hash_policy');
    expect(told.map(({ asked, served }) => ({ asked, served }))).toEqual([
      { asked: 'hashOn cookie session', served: 'left out' },
      { asked: 'hashOn query parameter q', served: 'left out' },
      { asked: 'hashOn source IP', served: 'hash on the channel id (io.grpc.channel_id)' },
    ]);
    expect(told[2].reason).toBe(
      'hashOn source IP served as hash on the channel id (io.grpc.channel_id): gRPC hashes on headers and its channel id only (gRFC A42)',
    );
  });
});
