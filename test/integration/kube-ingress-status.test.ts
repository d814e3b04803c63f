// Ingress status.loadBalancer as the leader writes it from the gateway Service's address: only
// on the Ingresses Switchyard serves, only when it changes, and taken back when it stops serving one.
import { type KubernetesMode, type KubernetesModeOptions } from '../../src/kubernetes/mode.js';
import { parseServiceRef, serviceAddresses } from '../../src/kubernetes/ingress-status.js';
import { parseFlags } from '../../src/cli/flags.js';
import { KUBERNETES_FLAGS, kubernetesModeSettings } from '../../src/sources/kube-flags.js';
import { eventually, ingress, KubeApiServer, NS, service, type JsonObject } from '../support/kube-api-server.js';
import { startTestReplica } from '../support/kube-replica.js';

function gatewayService(status: JsonObject[] = []): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'edge-gateway', namespace: 'switchyard-gateway' },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }] },
    status: { loadBalancer: { ingress: status } },
  };
}

describe('Ingress status', () => {
  let api: KubeApiServer;
  let mode: KubernetesMode;

  const lb = (name: string) => api.get('Ingress', NS, name)?.status?.loadBalancer?.ingress as JsonObject[] | undefined;
  const ingressWrites = () => api.writes.filter((w) => w.path.includes('/ingresses/') && w.path.endsWith('/status'));

  async function start(ingressStatus: KubernetesModeOptions['ingressStatus']): Promise<void> {
    mode = await startTestReplica(api, { ingressStatus });
  }

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
    api.apply(service('reviews'));
    api.apply(ingress('shop', 'reviews'));
    const foreign = ingress('other', 'reviews');
    foreign.spec.ingressClassName = 'nginx';
    api.apply(foreign);
  });

  afterEach(async () => {
    await mode?.stop();
    await api.stop();
  });

  it('writes the gateway Service address on our Ingresses only, once, and follows the address', async () => {
    api.apply(gatewayService([{ ip: '203.0.113.10' }]));
    await start({ service: 'switchyard-gateway/edge-gateway', servicePollMs: 100 });
    await eventually('status written', () => lb('shop'));
    expect(lb('shop')).toEqual([{ ip: '203.0.113.10' }]);
    expect(lb('other')).toBeUndefined();

    // Unrelated changes, and the echo of our own write, write nothing more.
    api.apply(service('ratings'));
    await eventually('the model has ratings', () => mode.app.pipeline.model.service('shop/ratings'));
    const reads = api.objectReads.filter((r) => r.kind === 'Service').length;
    await eventually(
      'two more polls of the gateway Service',
      () => api.objectReads.filter((r) => r.kind === 'Service').length >= reads + 2,
    );
    expect(ingressWrites()).toHaveLength(1);
    expect(mode.ingressStatusWriter!.writes).toBe(1);

    // The load balancer's address changes (a hostname now): the Ingress follows.
    api.applyStatus(gatewayService([{ hostname: 'edge.example.com' }]));
    await eventually('new address', () => lb('shop')?.[0]?.hostname === 'edge.example.com');
    expect(lb('shop')).toEqual([{ hostname: 'edge.example.com' }]);

    // A new Ingress of our class gets it too.
    api.apply(ingress('shop-2', 'reviews'));
    await eventually('second Ingress', () => lb('shop-2'));
    expect(lb('shop-2')).toEqual([{ hostname: 'edge.example.com' }]);
  });

  it("takes the address back when an Ingress leaves our class, and leaves another controller's address alone", async () => {
    const foreign = api.get('Ingress', NS, 'other')!;
    foreign.status = { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } };
    api.applyStatus(foreign);
    await start({ addresses: ['gw.example.com'] });
    await eventually('status written', () => lb('shop'));
    expect(lb('shop')).toEqual([{ hostname: 'gw.example.com' }]);

    const moved = api.get('Ingress', NS, 'shop')!;
    moved.spec.ingressClassName = 'nginx';
    api.apply(moved);
    await eventually('address removed', () => api.get('Ingress', NS, 'shop')?.status?.loadBalancer?.ingress === undefined);
    expect(api.get('Ingress', NS, 'shop')!.spec.ingressClassName).toBe('nginx');
    expect(lb('other')).toEqual([{ ip: '198.51.100.7' }]);
    expect(ingressWrites().map((w) => w.path.split('/').slice(-2)[0])).toEqual(['shop', 'shop']);
  });

  it('writes nothing while the gateway Service is missing or has no address yet', async () => {
    await start({ service: 'switchyard-gateway/edge-gateway', servicePollMs: 100 });
    await eventually('the Service looked for twice', () => api.objectReads.filter((r) => r.kind === 'Service').length >= 2);
    api.apply(gatewayService([]));
    const reads = api.objectReads.filter((r) => r.kind === 'Service').length;
    await eventually('read again', () => api.objectReads.filter((r) => r.kind === 'Service').length >= reads + 2);
    expect(ingressWrites()).toEqual([]);
    api.applyStatus(gatewayService([{ ip: '203.0.113.11' }]));
    await eventually('written once the load balancer has an address', () => lb('shop'));
    expect(lb('shop')).toEqual([{ ip: '203.0.113.11' }]);
  });
});

describe('the gateway Service address', () => {
  it('is the load balancer address, the external name, the external IPs or else the cluster IPs', () => {
    expect(
      serviceAddresses({
        spec: { type: 'LoadBalancer', clusterIP: '10.0.0.1' },
        status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }, { hostname: 'lb.example.com' }] } },
      }),
    ).toEqual([{ ip: '1.2.3.4' }, { hostname: 'lb.example.com' }]);
    expect(serviceAddresses({ spec: { type: 'LoadBalancer', clusterIP: '10.0.0.1' } })).toEqual([]);
    expect(serviceAddresses({ spec: { type: 'ExternalName', externalName: 'gw.example.com' } })).toEqual([{ hostname: 'gw.example.com' }]);
    expect(serviceAddresses({ spec: { type: 'NodePort', clusterIP: '10.0.0.1', externalIPs: ['192.0.2.1'] } })).toEqual([
      { ip: '192.0.2.1' },
    ]);
    expect(serviceAddresses({ spec: { type: 'ClusterIP', clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1', 'fd00::1'] } })).toEqual([
      { ip: '10.0.0.1' },
      { ip: 'fd00::1' },
    ]);
    expect(serviceAddresses({ spec: { type: 'ClusterIP', clusterIP: 'None' } })).toEqual([]);
  });
});

describe('the Ingress status flags', () => {
  it('--ingress-status-service names the Service; --ingress-status-address wins over it; neither writes no Ingress status', () => {
    const settings = (...args: string[]) =>
      kubernetesModeSettings(parseFlags(KUBERNETES_FLAGS, ['--kubernetes', ...args]).values).ingressStatus;
    expect(settings('--ingress-status-service=switchyard-gateway/edge-gateway')).toEqual({ service: 'switchyard-gateway/edge-gateway' });
    expect(
      settings('--ingress-status-service=switchyard-gateway/edge-gateway', '--ingress-status-address=203.0.113.1,gw.example.com'),
    ).toEqual({
      addresses: ['203.0.113.1', 'gw.example.com'],
    });
    expect(settings()).toBeUndefined();
  });

  it('refuses a Service that is not <namespace>/<name>, naming the flag and the fix', () => {
    expect(() => parseServiceRef('edge-gateway')).toThrow(
      /--ingress-status-service: "edge-gateway" is not <namespace>\/<name> \(for example switchyard-gateway\/edge-gateway\)/,
    );
  });
});
