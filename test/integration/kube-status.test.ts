// TrafficPolicy status as the leader writes it through the status subresource: conditions from
// the model, Programmed from what proxies (the ADS test client) ACK or NACK, written only when
// something really changed, with stable lastTransitionTimes.
import { TypeUrl } from '../../src/envoy/protos.js';
import { clusterNamesIn, nackedCondition, statusSignature, type OutstandingNack } from '../../src/kubernetes/policy-status.js';
import type { KubernetesMode } from '../../src/kubernetes/mode.js';
import type { Condition } from '../../src/sources/types.js';
import { ClusterWatcher, endpointSlice, eventually, KubeApiServer, NS, service, trafficPolicy } from '../support/kube-api-server.js';
import { XdsTestClient } from '../support/xds-client.js';
import { startTestReplica, TEST_LEASE } from '../support/kube-replica.js';

describe('TrafficPolicy status', () => {
  let api: KubeApiServer;
  let mode: KubernetesMode;
  let client: XdsTestClient;

  function condition(name: string, type: string): Condition | undefined {
    return (api.get('TrafficPolicy', NS, name)?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);
  }

  async function start(): Promise<void> {
    mode = await startTestReplica(api);
    client = new XdsTestClient(mode.app.xdsPort);
  }

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
    api.apply(service('reviews'));
    api.apply(service('ratings'));
    api.apply(endpointSlice('reviews', ['10.0.0.1']));
  });

  afterEach(async () => {
    client?.close();
    await mode?.stop();
    await api.stop();
  });

  it('writes Accepted, ResolvedRefs and Programmed with observedGeneration, once, and keeps transition times', async () => {
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'RoundRobin' } }));
    await start();
    await eventually('status written', () => condition('reviews', 'Programmed'));
    const status = api.get('TrafficPolicy', NS, 'reviews')!.status;
    expect(status.observedGeneration).toBe(1);
    expect(Object.fromEntries(status.conditions.map((c: Condition) => [c.type, c.status]))).toEqual({
      Accepted: 'True',
      ResolvedRefs: 'True',
      Programmed: 'True',
    });
    expect(status.conditions.every((c: Condition) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(c.lastTransitionTime ?? ''))).toBe(true);
    expect(api.statusWrites()).toBe(1);

    // Changes that leave the status as it is (and the echo of our own write) write nothing:
    // a later policy's status, written after them, is the only other write.
    api.apply(endpointSlice('reviews', ['10.0.0.1', '10.0.0.2']));
    api.apply(service('details'));
    await eventually('the model has details', () => mode.app.pipeline.model.service('shop/details'));
    api.apply(trafficPolicy('details', 'details'));
    await eventually('details status written', () => condition('details', 'Programmed'));
    expect(api.writes.filter((w) => w.path.endsWith('/status')).map((w) => w.path.split('/').slice(-2)[0])).toEqual(['reviews', 'details']);
  });

  it('a new generation updates observedGeneration but not the lastTransitionTime of unchanged conditions', async () => {
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'RoundRobin' } }));
    // A status from earlier, as a previous leader left it: same outcome, older transition times.
    const earlier = '2020-01-01T00:00:00Z';
    const stored = api.get('TrafficPolicy', NS, 'reviews')!;
    stored.status = {
      observedGeneration: 1,
      conditions: ['Accepted', 'ResolvedRefs', 'Programmed'].map((type) => ({
        type,
        status: 'True',
        reason: 'Old',
        message: 'from before',
        lastTransitionTime: earlier,
      })),
    };
    api.applyStatus(stored);
    await start();
    await eventually('status refreshed', () => condition('reviews', 'Accepted')?.reason === 'Accepted');
    expect(condition('reviews', 'Accepted')?.lastTransitionTime).toBe(earlier);

    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'Random' } }));
    await eventually('generation 2 observed', () => api.get('TrafficPolicy', NS, 'reviews')?.status?.observedGeneration === 2);
    expect(condition('reviews', 'Accepted')?.lastTransitionTime).toBe(earlier);
    expect(condition('reviews', 'Programmed')?.lastTransitionTime).toBe(earlier);

    // A condition whose status flips gets a new transition time.
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'Fastest' } }));
    await eventually('Accepted=False', () => condition('reviews', 'Accepted')?.status === 'False');
    expect(condition('reviews', 'Accepted')?.lastTransitionTime).not.toBe(earlier);
    expect(condition('reviews', 'ResolvedRefs')?.lastTransitionTime).toBe(earlier);
  });

  it('retries a status write the API server refused', async () => {
    api.apply(trafficPolicy('reviews', 'reviews'));
    api.failNext('PATCH', 'TrafficPolicy', 500, 2);
    await start();
    await eventually('status written', () => condition('reviews', 'Accepted'));
    // The API server stores the status before the writer hears its answer: wait for that too.
    await eventually('the writer counted its write', () => mode.statusWriter!.writes === 1);
    const attempts = api.writes.filter((w) => w.path.endsWith('/reviews/status'));
    expect(attempts).toHaveLength(3);
    expect(mode.statusWriter!.writes).toBe(1);
  });

  it('an invalid TrafficPolicy gets Accepted=False with the message naming the field', async () => {
    api.apply(trafficPolicy('reviews', 'reviews', { split: [{ backend: 'reviews', weight: 20000 }] }));
    api.apply(trafficPolicy('ghost', 'nowhere'));
    await start();
    await eventually('status written', () => condition('reviews', 'Accepted') && condition('ghost', 'ResolvedRefs'));
    const accepted = condition('reviews', 'Accepted')!;
    expect(accepted.status).toBe('False');
    expect(accepted.reason).toBe('Invalid');
    expect(accepted.message).toMatch(/spec\.split\[0\]\.weight/);
    const ghost = condition('ghost', 'ResolvedRefs')!;
    expect(ghost.status).toBe('False');
    expect(ghost.message).toMatch(/nowhere/);
  });

  it('a NACK shows as Programmed=False naming the proxies, the cluster and the message; an ACK clears it', async () => {
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'RoundRobin' } }));
    api.apply(trafficPolicy('ratings', 'ratings', { loadBalancer: { policy: 'Random' } }));
    await start();
    await eventually(
      'Programmed=True',
      () => condition('reviews', 'Programmed')?.status === 'True' && condition('ratings', 'Programmed')?.status === 'True',
    );

    const envoys = [new ClusterWatcher(client, 'envoy-1'), new ClusterWatcher(client, 'envoy-2')];
    for (const envoy of envoys) {
      const cds = await envoy.ads.next(TypeUrl.Cluster);
      envoy.ads.nack(cds, 'Error adding/updating cluster(s) shop/reviews/9080: round_robin is not supported here');
    }
    await eventually('Programmed=False', () => condition('reviews', 'Programmed')?.status === 'False');
    const programmed = condition('reviews', 'Programmed')!;
    expect(programmed.reason).toBe('Nacked');
    expect(programmed.message).toBe(
      '2 proxies NACKed cluster shop/reviews/9080: Error adding/updating cluster(s) shop/reviews/9080: round_robin is not supported here',
    );
    // The other policy's cluster was not named: it stays programmed.
    expect(condition('ratings', 'Programmed')?.status).toBe('True');
    expect(condition('reviews', 'Accepted')?.status).toBe('True');

    // One proxy ACKs a new version; the other still holds its NACK.
    api.apply(endpointSlice('reviews', ['10.0.0.5']));
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'Random' } }));
    const next = await envoys[0].clusters(
      'random',
      (names, r) => names.includes('shop/reviews/9080') && JSON.stringify(r.resources).includes('random'),
    );
    expect(next).toBeDefined();
    await eventually('one proxy left', () => /^1 proxy NACKed/.test(condition('reviews', 'Programmed')?.message ?? ''));
    // The second disconnects: nothing outstanding, Programmed again.
    envoys[1].ads.cancel();
    await eventually('Programmed=True again', () => condition('reviews', 'Programmed')?.status === 'True');
  });

  it('a follower writes nothing', async () => {
    api.apply(trafficPolicy('reviews', 'reviews'));
    // Another replica holds a fresh Lease.
    api.apply({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: TEST_LEASE.name, namespace: TEST_LEASE.namespace },
      spec: { holderIdentity: 'someone-else', leaseDurationSeconds: 30, renewTime: new Date().toISOString() },
    });
    mode = await startTestReplica(api, { lead: false });
    await eventually('the holder seen', () => mode.leader.holder() === 'someone-else');
    // Several retry periods: still no leadership, no writes.
    const leaseReads = () => api.objectReads.filter((r) => r.kind === 'Lease' && r.client === 'replica-a').length;
    const before = leaseReads();
    await eventually('three more lease reads', () => leaseReads() >= before + 3);
    expect(api.writes).toEqual([]);
    expect(mode.leader.isLeader()).toBe(false);
    expect(mode.app.pipeline.model.policyStatus(NS, 'reviews')).toBeDefined();
    expect(api.statusWrites()).toBe(0);
  });
});

describe('NACK attribution', () => {
  const nack = (typeUrl: string, message: string, nodeId = 'envoy-1', streamId = 1): OutstandingNack => ({
    typeUrl,
    message,
    nodeId,
    streamId,
  });
  const lbOnly = { targetRef: { name: 'reviews' }, loadBalancer: { policy: 'RoundRobin' as const } };
  const canary = {
    targetRef: { name: 'reviews' },
    split: [
      { backend: 'reviews-v2', weight: 10 },
      { backend: 'reviews', weight: 90 },
    ],
  };

  it('finds cluster names in proxy messages', () => {
    expect(clusterNamesIn('cluster shop/reviews/9080: bad; also shop/ratings/80 and shop/reviews/9080')).toEqual([
      'shop/reviews/9080',
      'shop/ratings/80',
    ]);
    expect(clusterNamesIn('a/b path /x/y/1 is not a cluster, nor http://h/a/b/1')).toEqual([]);
  });

  it("names the target cluster; other Services' clusters do not concern the policy", () => {
    expect(nackedCondition('shop', lbOnly, [nack(TypeUrl.Cluster, 'cluster shop/ratings/9080: bad')])).toBeUndefined();
    expect(
      nackedCondition('shop', lbOnly, [
        nack(TypeUrl.Cluster, 'shop/reviews/9080: bad'),
        nack(TypeUrl.Cluster, 'shop/reviews/9080: bad', 'envoy-2', 2),
      ]),
    ).toBe('2 proxies NACKed cluster shop/reviews/9080: shop/reviews/9080: bad');
  });

  it('attributes an unnamed cluster rejection to every policy, an unnamed route rejection to policies that shape routes', () => {
    expect(nackedCondition('shop', lbOnly, [nack(TypeUrl.Cluster, 'unsupported load balancing policy')])).toBe(
      '1 proxy NACKed the cluster response: unsupported load balancing policy',
    );
    expect(nackedCondition('shop', lbOnly, [nack(TypeUrl.RouteConfiguration, 'duplicate virtual host')])).toBeUndefined();
    expect(nackedCondition('shop', canary, [nack(TypeUrl.RouteConfiguration, 'duplicate virtual host')])).toBe(
      '1 proxy NACKed the route configuration response: duplicate virtual host',
    );
    // A rate limit rides in routes and in the inbound listener of the Service's pods.
    const limited = { targetRef: { name: 'reviews' }, rateLimit: { connections: { perSecond: 5 } } };
    expect(nackedCondition('shop', limited, [nack(TypeUrl.Listener, 'unknown network filter')])).toBe(
      '1 proxy NACKed the listener response: unknown network filter',
    );
    // A route message naming a backend of the policy's split concerns it.
    expect(nackedCondition('shop', canary, [nack(TypeUrl.RouteConfiguration, 'route: unknown cluster shop/reviews-v2/9080')])).toBe(
      '1 proxy NACKed route configuration naming shop/reviews-v2/9080: route: unknown cluster shop/reviews-v2/9080',
    );
  });

  it('keeps long proxy messages to 1024 characters', () => {
    const message = nackedCondition('shop', lbOnly, [nack(TypeUrl.Cluster, `shop/reviews/9080: ${'x'.repeat(5000)}`)])!;
    expect(message).toHaveLength(1024);
    expect(message.endsWith('…')).toBe(true);
  });

  it('compares statuses without transition times', () => {
    const at = (time: string) => ({
      observedGeneration: 2,
      conditions: [{ type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: 'ok', lastTransitionTime: time }],
    });
    expect(statusSignature(at('2020-01-01T00:00:00Z'))).toBe(statusSignature(at('2026-01-01T00:00:00Z')));
    expect(statusSignature(at('2020-01-01T00:00:00Z'))).not.toBe(statusSignature({ ...at('x'), observedGeneration: 3 }));
  });
});
