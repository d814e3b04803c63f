// What every xDS stream does whatever its flavour: refuse malformed or unidentified requests with
// the right gRPC status, wait for the start-up gate and the shared send budget, keep ACK / NACK
// counts honest, withhold what the guard refuses and send it once allowed, hold pushes for a
// stalled client, and end cleanly. Run over the fake transport (the real streams, no sockets).
import { status as GrpcStatus } from '@grpc/grpc-js';
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { SendBudget } from '../../src/xds/send-budget.js';
import type { StreamGuard } from '../../src/xds/stream-base.js';
import { FakeDeltaStream, FakeSotwStream, type FakeStreamOptions } from '../support/fake-transport.js';
import { testNode } from '../support/xds-client.js';
import { cluster, endpoints, secret } from '../support/xds-fixtures.js';

function delta(options: FakeStreamOptions = {}): FakeDeltaStream {
  const fake = new FakeDeltaStream(options);
  fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a'), cluster('b')] }]);
  return fake;
}

describe('requests a stream refuses', () => {
  it('ends the stream with INVALID_ARGUMENT on bytes that are not a request, and ignores what follows', async () => {
    const fake = delta();
    await fake.receive(Buffer.from([0x0a, 0x7f, 0x01]));
    expect(fake.transport.ended?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(fake.transport.ended?.message).toContain('DeltaDiscoveryRequest');
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.responses()).toEqual([]);
  });

  it('needs a type URL on an aggregated stream', async () => {
    const fake = delta();
    await fake.request({ typeUrl: '', subscribe: ['a'] });
    expect(fake.transport.ended).toEqual({ code: GrpcStatus.INVALID_ARGUMENT, message: expect.stringContaining('type_url') });
    expect(fake.responses()).toEqual([]);
  });

  it('a per-type stream takes an empty type URL as its own type and refuses any other', async () => {
    const fake = delta({ fixedTypeUrl: TypeUrl.Cluster });
    await fake.request({ typeUrl: '', subscribe: ['a'] });
    expect(fake.response()).toMatchObject({ typeUrl: TypeUrl.Cluster, names: ['a'] });
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['b'] });
    expect(fake.response().names).toEqual(['b']);
    await fake.request({ typeUrl: TypeUrl.Listener });
    expect(fake.transport.ended?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(fake.responses()).toEqual([]);
  });

  it('needs the node on the first request, and reports no stream opened without it', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] }, null);
    expect(fake.transport.ended).toEqual({ code: GrpcStatus.INVALID_ARGUMENT, message: expect.stringContaining('node') });
    expect(fake.observer.opened).toEqual([]);
    expect(fake.stream.close('gone')).toBeUndefined();
  });

  it('ends a node with contradictory metadata with INVALID_ARGUMENT', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] }, testNode({ id: 'gw-1', role: 'gateway' }));
    expect(fake.transport.ended?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });

  it('refuses a node the guard says the client may not be, with PERMISSION_DENIED, and reports the refusal', async () => {
    const guard: StreamGuard = {
      nodeRefusal: (node) => (node.id === 'node-1' ? 'certificate names another workload' : undefined),
      guardsType: () => false,
      resourceRefusal: () => undefined,
    };
    const fake = delta({ guard });
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.transport.ended).toEqual({ code: GrpcStatus.PERMISSION_DENIED, message: 'certificate names another workload' });
    expect(fake.observer.refusals).toEqual([
      expect.objectContaining({ reason: 'node-identity', code: 'PERMISSION_DENIED', nodeId: 'node-1', peer: 'fake:1' }),
    ]);
    expect(fake.observer.opened).toEqual([]);
    expect(fake.responses()).toEqual([]);
  });
});

describe('a stream that was accepted', () => {
  it('reports itself opened with its node, group and flavour, and closed with the reason it ended', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.observer.opened).toEqual([
      expect.objectContaining({ streamId: 1, nodeId: 'node-1', group: SIDECAR_GROUP, flavour: 'delta', peer: 'fake:1' }),
    ]);
    fake.stream.end('shutdown');
    expect(fake.transport.ended?.code).toBe(GrpcStatus.OK);
    expect(fake.stream.isClosed).toBe(true);
    expect(fake.stream.close('connection reset')).toMatchObject({ nodeId: 'node-1', reason: 'shutdown' });
    // Reported once; a second end changes nothing.
    fake.stream.end('client');
    expect(fake.stream.close('again')).toBeUndefined();
  });

  it('closed by the client, reports the reason it was given', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.stream.close('client went away')).toMatchObject({ reason: 'client went away' });
  });

  it('ended twice, reports the first reason', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    fake.stream.end('shutdown');
    fake.stream.end('client');
    expect(fake.stream.close('connection reset')).toMatchObject({ reason: 'shutdown' });
  });

  it('sends nothing more once ended, neither answers nor pushes', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    fake.response();
    fake.stream.end('client');
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a', 7)] }]);
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['b'] });
    expect(fake.responses()).toEqual([]);
  });

  it('serves the group the server refines the node into, and hears only that group', async () => {
    const fake = delta({ refineGroup: (group) => `${group}/canary` });
    fake.apply([{ group: `${SIDECAR_GROUP}/canary`, typeUrl: TypeUrl.Cluster, upserts: [cluster('canary')] }]);
    await fake.request({ typeUrl: TypeUrl.Cluster });
    const first = fake.response();
    expect(first.names).toEqual(['canary']);
    expect(fake.stream.snapshot().group).toBe(`${SIDECAR_GROUP}/canary`);
    await fake.ack(first);
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a', 3)] }]);
    expect(fake.responses()).toEqual([]);
    expect(fake.transport.ended).toBeUndefined();
  });

  it('regroup ends the stream with OK only when the server says its group is stale', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.stream.regroup(() => false)).toBe(false);
    expect(fake.transport.ended).toBeUndefined();
    const seen: string[] = [];
    expect(
      fake.stream.regroup((group, base, node) => {
        seen.push(group, base, node.id ?? '');
        return true;
      }),
    ).toBe(true);
    expect(seen).toEqual([SIDECAR_GROUP, SIDECAR_GROUP, 'node-1']);
    expect(fake.transport.ended?.code).toBe(GrpcStatus.OK);
    expect(fake.stream.close('x')).toMatchObject({ reason: 'regroup' });
    expect(fake.stream.regroup(() => true)).toBe(false);
  });

  it('a stream not yet identified is never regrouped', () => {
    const fake = delta();
    expect(fake.stream.regroup(() => true)).toBe(false);
    expect(fake.transport.ended).toBeUndefined();
  });
});

describe('the start-up gate', () => {
  it('answers nothing until the server is ready, then answers in order', async () => {
    let open!: () => void;
    const fake = delta({ ready: new Promise<void>((resolve) => (open = resolve)) });
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['b'] });
    expect(fake.responses()).toEqual([]);
    open();
    await fake.settle();
    const answers = fake.responses().map((r) => r.names);
    expect(answers).toEqual([['a'], ['b']]);
  });

  it('ends every waiting stream with UNAVAILABLE when the server fails to start', async () => {
    const failed = Promise.reject(new Error('no cluster access'));
    // Handled here too: if building the stream throws, an unhandled rejection would end the
    // whole test process rather than fail this test.
    failed.catch(() => undefined);
    const fake = delta({ ready: failed });
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.transport.ended).toEqual({ code: GrpcStatus.UNAVAILABLE, message: expect.stringContaining('no cluster access') });
    expect(fake.responses()).toEqual([]);
  });
});

describe('the shared send budget', () => {
  it('a request waits while the budget is spent and is answered when bytes flush', async () => {
    const budget = new SendBudget(100);
    const fake = delta({ budget });
    const ticket = budget.written(500);
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.responses()).toEqual([]);
    budget.flushed(ticket);
    await fake.settle();
    expect(fake.response().names).toEqual(['a']);
    budget.close();
  });

  it('with room and nothing waiting, a request is handled as it arrives, not a turn later', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    const acked = fake.ack(fake.response());
    expect(fake.observer.acks).toHaveLength(1);
    await acked;
  });

  it('a later request waits behind one that waits for the budget, and both are answered in order', async () => {
    const budget = new SendBudget(100);
    const fake = delta({ budget });
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    await fake.ack(fake.response());
    const ticket = budget.written(500);
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['b'] });
    budget.flushed(budget.written(0)); // a flush that leaves the budget spent lets nobody through
    await fake.request({ typeUrl: TypeUrl.Cluster, unsubscribe: ['b'] });
    expect(fake.responses()).toEqual([]);
    budget.flushed(ticket);
    await fake.settle();
    // In order, the unsubscribe comes last and leaves only 'a'; the other way round would leave 'b' too.
    expect(fake.responses().map((r) => r.names)).toEqual([['b']]);
    expect(fake.stream.snapshot().types).toEqual([expect.objectContaining({ typeUrl: TypeUrl.Cluster, names: ['a'] })]);
    budget.close();
  });

  it('a push while the budget is spent is held, then sent once, at the newest state', async () => {
    const budget = new SendBudget(100);
    const fake = delta({ budget });
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    await fake.ack(fake.response());
    const ticket = budget.written(500);
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a', 2)] }]);
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a', 3)] }]);
    expect(fake.responses()).toEqual([]);
    expect(fake.stream.snapshot()).toMatchObject({ heldTypes: [TypeUrl.Cluster], coalescedChanges: 2 });
    budget.flushed(ticket);
    await fake.settle();
    const pushed = fake.responses();
    expect(pushed.map((r) => r.names)).toEqual([['a']]);
    expect(pushed[0].resources[0].version).toBe(fake.cache.get(SIDECAR_GROUP, TypeUrl.Cluster, 'a')!.version);
    expect(fake.stream.snapshot().heldTypes).toEqual([]);
    budget.close();
  });
});

describe('a client that stopped reading', () => {
  it('holds only the types it subscribed to, counts the changes, and sends the newest state on drain', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    await fake.ack(fake.response());
    fake.transport.blocked = true;
    fake.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a', 2)] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.ClusterLoadAssignment, upserts: [endpoints('a', '10.0.0.1')] },
    ]);
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a', 3)] }]);
    expect(fake.responses()).toEqual([]);
    expect(fake.stream.snapshot()).toMatchObject({ heldTypes: [TypeUrl.Cluster], coalescedChanges: 2 });
    fake.transport.drain();
    expect(fake.responses().map((r) => r.names)).toEqual([['a']]);
    expect(fake.stream.snapshot().heldTypes).toEqual([]);
  });

  it('a client that reads gets each push at once: nothing is held or coalesced', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    await fake.ack(fake.response());
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a', 2)] }]);
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a', 3)] }]);
    expect(fake.responses()).toHaveLength(2);
    expect(fake.stream.snapshot()).toMatchObject({ heldTypes: [], coalescedChanges: 0 });
  });

  it('a drain with nothing held sends nothing', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    await fake.ack(fake.response());
    fake.transport.blocked = true;
    fake.transport.drain();
    expect(fake.responses()).toEqual([]);
  });
});

describe('ACK and NACK bookkeeping', () => {
  it('counts one ACK per response, however often the client repeats its nonce', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    const first = fake.response();
    await fake.ack(first);
    await fake.ack(first);
    expect(fake.observer.acks).toHaveLength(1);
  });

  it('a request without a nonce is no ACK', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    fake.response();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['b'] });
    expect(fake.observer.acks).toEqual([]);
    expect(fake.stream.snapshot().types[0].versionAcked).toBe('');
  });

  it('a NACK is counted once, with its message; a subscription change after it is no second NACK', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    const first = fake.response();
    await fake.nack(first);
    await fake.request({
      typeUrl: TypeUrl.Cluster,
      subscribe: ['b'],
      responseNonce: first.nonce,
      errorDetail: { code: 3, message: 'still' },
    });
    expect(fake.observer.nacks).toEqual([
      expect.objectContaining({ nodeId: 'node-1', group: SIDECAR_GROUP, message: 'rejected by the test' }),
    ]);
    const type = fake.stream.snapshot().types[0];
    expect(type).toMatchObject({ nackCount: 1, lastNack: 'rejected by the test', versionAcked: '' });
  });

  it('reports every response sent, with its counts and version', async () => {
    const fake = delta();
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a', 'missing'] });
    const first = fake.response();
    expect(fake.observer.sent).toEqual([
      expect.objectContaining({
        nodeId: 'node-1',
        typeUrl: TypeUrl.Cluster,
        resourceCount: 1,
        removedCount: 1,
        nonce: first.nonce,
        version: first.systemVersionInfo,
        bytes: first.raw.length,
      }),
    ]);
  });

  it('SotW: a first request carrying a nonce from an earlier stream is no ACK', async () => {
    const fake = new FakeSotwStream();
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a')] }]);
    await fake.request({ typeUrl: TypeUrl.Cluster, resourceNames: ['a'], versionInfo: 'v-before', responseNonce: 'n-before' });
    expect(fake.response().names).toEqual(['a']);
    expect(fake.observer.acks).toEqual([]);
    expect(fake.stream.snapshot().types[0].versionAcked).toBe('');
  });

  it('SotW: an ACK carries the version of the response it answers', async () => {
    const fake = new FakeSotwStream();
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a')] }]);
    await fake.request({ typeUrl: TypeUrl.Cluster, resourceNames: ['a'] });
    const first = fake.response();
    await fake.ack(first, ['a']);
    expect(fake.stream.snapshot()).toMatchObject({
      flavour: 'sotw',
      nodeId: 'node-1',
      types: [{ typeUrl: TypeUrl.Cluster, names: ['a'], versionSent: first.versionInfo, versionAcked: first.versionInfo, nackCount: 0 }],
    });
  });
});

describe('resources the guard withholds', () => {
  function guarded(refusals: Map<string, { reason: string; pending: boolean }>): StreamGuard {
    return {
      nodeRefusal: () => undefined,
      guardsType: (typeUrl) => typeUrl === TypeUrl.Secret,
      resourceRefusal: (_group, _typeUrl, name) => refusals.get(name),
    };
  }

  async function subscribedToSecrets(refusals: Map<string, { reason: string; pending: boolean }>) {
    const fake = new FakeDeltaStream({ guard: guarded(refusals) });
    fake.apply([
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Secret, upserts: [secret('mine', 'v'), secret('theirs', 'v')] },
      { group: SIDECAR_GROUP, typeUrl: TypeUrl.Cluster, upserts: [cluster('a')] },
    ]);
    await fake.request({ typeUrl: TypeUrl.Secret, subscribe: ['mine', 'theirs'] });
    const first = fake.response();
    await fake.ack(first);
    return { fake, first };
  }

  it('sends what is allowed, withholds the rest, reports it once per reason, and lists it for /debug', async () => {
    const refusals = new Map([['theirs', { reason: 'not in the namespace', pending: false }]]);
    const { fake, first } = await subscribedToSecrets(refusals);
    expect(first.names).toEqual(['mine']);
    expect(fake.observer.withholdings).toEqual([
      expect.objectContaining({
        nodeId: 'node-1',
        group: SIDECAR_GROUP,
        typeUrl: TypeUrl.Secret,
        name: 'theirs',
        reason: 'not in the namespace',
      }),
    ]);
    expect(fake.typeSnapshot(TypeUrl.Secret)?.withheld).toEqual([{ name: 'theirs', reason: 'not in the namespace' }]);
    // A change to it is still withheld, and not reported again for the same reason.
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Secret, upserts: [secret('theirs', 'w')] }]);
    expect(fake.responses()).toEqual([]);
    expect(fake.observer.withholdings).toHaveLength(1);
    // Another reason is reported.
    refusals.set('theirs', { reason: 'access revoked', pending: false });
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Secret, upserts: [secret('theirs', 'x')] }]);
    expect(fake.observer.withholdings.map((w) => w.reason)).toEqual(['not in the namespace', 'access revoked']);
    // Unguarded types are not asked about.
    await fake.request({ typeUrl: TypeUrl.Cluster, subscribe: ['a'] });
    expect(fake.response().names).toEqual(['a']);
  });

  it('sends a withheld resource once access is granted, and no longer lists it', async () => {
    const refusals = new Map([['theirs', { reason: 'being checked', pending: true }]]);
    const { fake } = await subscribedToSecrets(refusals);
    // Pending: listed, not reported as a refusal.
    expect(fake.observer.withholdings).toEqual([]);
    expect(fake.typeSnapshot(TypeUrl.Secret)?.withheld).toEqual([{ name: 'theirs', reason: 'being checked' }]);
    fake.stream.accessChanged();
    expect(fake.responses()).toEqual([]);
    refusals.delete('theirs');
    fake.stream.accessChanged();
    expect(fake.response().names).toEqual(['theirs']);
    expect(fake.typeSnapshot(TypeUrl.Secret)?.withheld).toBeUndefined();
    fake.stream.accessChanged();
    expect(fake.responses()).toEqual([]);
  });

  it('a withheld resource that is removed is no longer listed', async () => {
    const refusals = new Map([['theirs', { reason: 'not in the namespace', pending: false }]]);
    const { fake } = await subscribedToSecrets(refusals);
    fake.apply([{ group: SIDECAR_GROUP, typeUrl: TypeUrl.Secret, removals: ['theirs'] }]);
    expect(fake.typeSnapshot(TypeUrl.Secret)?.withheld).toBeUndefined();
  });

  it('lists several withheld resources by name', async () => {
    const refusals = new Map([
      ['theirs', { reason: 'r1', pending: false }],
      ['mine', { reason: 'r2', pending: false }],
    ]);
    const { fake, first } = await subscribedToSecrets(refusals);
    expect(first.names).toEqual([]);
    expect(fake.typeSnapshot(TypeUrl.Secret)?.withheld).toEqual([
      { name: 'mine', reason: 'r2' },
      { name: 'theirs', reason: 'r1' },
    ]);
  });
});
