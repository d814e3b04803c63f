// Lease-based leader election against the test API server (the real CoordinationV1Api client),
// and two Switchyard replicas sharing one API server: only the leader writes status.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseFlags } from '../../src/cli/flags.js';
import { LeaderElector } from '../../src/kubernetes/leader.js';
import { KUBERNETES_FLAGS, kubernetesModeSettings } from '../../src/sources/kube-flags.js';
import { startKubernetesMode, type KubernetesMode } from '../../src/kubernetes/mode.js';
import { endpointSlice, eventually, KubeApiServer, NS, service, trafficPolicy } from '../support/kube-api-server.js';

const LEASE = { name: 'switchyard', namespace: 'switchyard-system', leaseDurationSeconds: 1, renewDeadlineMs: 600, retryPeriodMs: 150 };

describe('leader election', () => {
  let api: KubeApiServer;
  const electors: LeaderElector[] = [];
  const replicas: KubernetesMode[] = [];

  function elector(client: string): LeaderElector {
    const e = new LeaderElector({ ...LEASE, kubeConfig: api.kubeConfig(client), identity: client });
    electors.push(e);
    return e;
  }

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
  });

  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
    await Promise.all(replicas.splice(0).map((r) => r.stop()));
    await api.stop();
  });

  it('creates the Lease, exactly one candidate leads, and it keeps renewing', async () => {
    const a = elector('replica-a');
    const b = elector('replica-b');
    let bothLed = false;
    const check = () => (bothLed ||= a.isLeader() && b.isLeader());
    a.on('started', check);
    b.on('started', check);
    a.start();
    b.start();
    const leader = await eventually('a leader', () => (a.isLeader() ? a : b.isLeader() ? b : undefined));
    const lease = api.get('Lease', LEASE.namespace, LEASE.name)!;
    expect(lease.spec.holderIdentity).toBe(leader.identity);
    expect(lease.spec.leaseDurationSeconds).toBe(1);
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // Several renewals later the same replica still leads, and the other never did.
    const renewed = Number(lease.metadata.resourceVersion);
    await eventually(
      'three renewals',
      () => Number(api.get('Lease', LEASE.namespace, LEASE.name)!.metadata.resourceVersion) >= renewed + 3,
    );
    expect(leader.isLeader()).toBe(true);
    expect(api.get('Lease', LEASE.namespace, LEASE.name)!.spec.holderIdentity).toBe(leader.identity);
    expect(bothLed).toBe(false);
    expect(a.isLeader() && b.isLeader()).toBe(false);
  });

  it('hands over at once when the leader stops and releases the Lease', async () => {
    const a = elector('replica-a');
    a.start();
    await eventually('a leads', () => a.isLeader());
    const b = elector('replica-b');
    b.start();
    // b sees a valid Lease held by a: it waits.
    await eventually('b has read the lease', () => b.holder() === 'replica-a');
    expect(b.isLeader()).toBe(false);

    const lost = new Promise<void>((resolve) => a.once('lost', () => resolve()));
    await a.stop();
    await lost;
    const released = api.writes.filter((w) => w.client === 'replica-a' && w.method === 'PUT').pop();
    expect(released?.body?.spec.holderIdentity).toBeUndefined();
    await eventually('b leads', () => b.isLeader());
    const lease = api.get('Lease', LEASE.namespace, LEASE.name)!;
    expect(lease.spec.holderIdentity).toBe('replica-b');
    expect(lease.spec.leaseTransitions).toBe(1);
  });

  it('a leader that cannot renew stops leading before another replica takes over', async () => {
    const order: string[] = [];
    const a = elector('replica-a');
    a.on('started', () => order.push('a started'));
    a.on('lost', () => order.push('a lost'));
    a.start();
    await eventually('a leads', () => a.isLeader());
    const b = elector('replica-b');
    b.on('started', () => order.push('b started'));
    b.start();
    await eventually('b has read the lease', () => b.holder() === 'replica-a');

    api.blockClient('replica-a', true);
    await eventually('b leads', () => b.isLeader());
    expect(order).toEqual(['a started', 'a lost', 'b started']);
    expect(a.isLeader()).toBe(false);

    // Back in touch, a finds the Lease held and renewed by b, and stays a follower.
    api.blockClient('replica-a', false);
    await eventually('a sees b', () => a.holder() === 'replica-b');
    expect(a.isLeader()).toBe(false);
    expect(b.isLeader()).toBe(true);
  });

  it('a renewal that meets a conflict is retried; the leader keeps leading within the renew deadline', async () => {
    const a = elector('replica-a');
    let lost = false;
    a.on('lost', () => (lost = true));
    a.start();
    await eventually('a leads', () => a.isLeader());
    const puts = () => api.writes.filter((w) => w.client === 'replica-a' && w.method === 'PUT').length;
    const before = puts();
    api.failNext('PUT', 'Lease', 409);
    // The failed PUT, then a successful renewal after it.
    await eventually(
      'a renewal after the conflict',
      () => puts() >= before + 2 && api.get('Lease', LEASE.namespace, LEASE.name)!.metadata.resourceVersion !== undefined,
    );
    const renewedAt = api.get('Lease', LEASE.namespace, LEASE.name)!.metadata.resourceVersion;
    await eventually('another renewal', () => api.get('Lease', LEASE.namespace, LEASE.name)!.metadata.resourceVersion !== renewedAt);
    expect(lost).toBe(false);
    expect(a.isLeader()).toBe(true);
  });

  it('refuses settings where the renew deadline outlasts the lease', () => {
    expect(() => new LeaderElector({ ...LEASE, renewDeadlineMs: 1500, kubeConfig: api.kubeConfig() })).toThrow(
      /renew deadline \(1500 ms\) must be shorter than the lease duration \(1000 ms\)/,
    );
  });
});

describe('two Switchyard replicas', () => {
  let api: KubeApiServer;
  const replicas: KubernetesMode[] = [];

  async function replica(client: string): Promise<KubernetesMode> {
    const mode = await startKubernetesMode({
      source: { kubeConfig: api.kubeConfig(client), backoff: { initialMs: 50, maxMs: 400 } },
      lease: { ...LEASE, identity: client },
      xdsPort: 0,
      adminPort: null,
      debounce: { quietMs: 5, maxMs: 50 },
    });
    replicas.push(mode);
    await mode.app.ready;
    return mode;
  }

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
  });

  afterEach(async () => {
    await Promise.all(replicas.splice(0).map((r) => r.stop()));
    await api.stop();
  });

  it('exactly one writes status; when it stops, the other takes over', async () => {
    api.apply(service('reviews'));
    api.apply(endpointSlice('reviews', ['10.0.0.1']));
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'RoundRobin' } }));
    const a = await replica('replica-a');
    const b = await replica('replica-b');
    const [leader, follower] = await eventually('a leader', () =>
      a.leader.isLeader() ? [a, b] : b.leader.isLeader() ? [b, a] : undefined,
    );
    const leaderName = leader.leader.identity;
    const followerName = follower.leader.identity;

    await eventually('the status written', () => api.get('TrafficPolicy', NS, 'reviews')?.status?.conditions?.length === 3);
    // Both replicas serve and see the same status; only the leader wrote it, once.
    expect(api.statusWrites(leaderName)).toBe(1);
    expect(api.statusWrites(followerName)).toBe(0);

    await leader.stop();
    replicas.splice(replicas.indexOf(leader), 1);
    await eventually('the follower leads', () => follower.leader.isLeader());
    // A change that alters the status is now written by the new leader.
    api.apply(trafficPolicy('reviews', 'reviews', { loadBalancer: { policy: 'Fastest' } }));
    await eventually(
      'Accepted=False written',
      () =>
        api.get('TrafficPolicy', NS, 'reviews')?.status?.conditions?.find((c: { type: string }) => c.type === 'Accepted')?.status ===
        'False',
    );
    expect(api.statusWrites(followerName)).toBe(1);
    expect(api.statusWrites(leaderName)).toBe(1);
  });
});

describe('serve --kubernetes flags', () => {
  it('turn into a running replica: kubeconfig file, namespaces, label selector, Lease settings', async () => {
    const api = new KubeApiServer();
    await api.start();
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-flags-'));
    const kubeconfig = path.join(dir, 'config');
    writeFileSync(kubeconfig, api.kubeConfigYaml('flags'));
    api.apply(service('reviews', 9080, { mesh: 'on' }));
    api.apply(service('legacy', 9080, { mesh: 'off' }));
    api.apply({
      ...service('elsewhere', 9080, { mesh: 'on' }),
      metadata: { name: 'elsewhere', namespace: 'other', labels: { mesh: 'on' } },
    });
    const { values } = parseFlags(KUBERNETES_FLAGS, [
      '--kubernetes',
      `--kubeconfig=${kubeconfig}`,
      '--namespaces=shop',
      '--label-selector=mesh=on',
      '--lease-name=status-writer',
      '--lease-namespace=mesh-system',
      '--lease-duration-s=2',
      '--lease-renew-deadline-ms=1000',
      '--lease-retry-period-ms=200',
    ]);
    expect(values.kubernetes).toBe(true);
    const settings = kubernetesModeSettings(values);
    const mode = await startKubernetesMode({ ...settings, xdsPort: 0, adminPort: null });
    try {
      await mode.app.ready;
      expect(mode.app.pipeline.model.services().map((s) => `${s.namespace}/${s.name}`)).toEqual(['shop/reviews']);
      await eventually('the Lease', () => api.get('Lease', 'mesh-system', 'status-writer')?.spec?.leaseDurationSeconds === 2);
      expect(api.writes.every((w) => w.client === 'flags')).toBe(true);
    } finally {
      await mode.stop();
      await api.stop();
    }
  });
});
