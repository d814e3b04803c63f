// The xDS stream protocol, one case per type URL (like go-control-plane's server tests), run
// against a fake transport: the real SotwStream and DeltaStream, no gRPC, no sockets. ACK, NACK,
// stale nonces, subscribe and unsubscribe, wildcard, removal. The wire itself is proven by the
// socket tests (test/integration/xds-sotw.test.ts, xds-delta.test.ts).
import { jest } from '@jest/globals';
import { SIDECAR_GROUP } from '../../src/cache/types.js';
import { messageType, TypeUrl, type XdsResource } from '../../src/envoy/protos.js';
import { FakeDeltaStream, FakeSotwStream } from '../support/fake-transport.js';
import { cluster, endpoints, listener, route, secret } from '../support/xds-fixtures.js';

interface Kind {
  label: string;
  typeUrl: TypeUrl;
  /** LDS and CDS: wildcard-capable, and SotW responses carry the whole subscribed set. */
  fullState: boolean;
  /** The resource `name`; another `variant` gives other bytes. */
  make(name: string, variant: number): XdsResource;
}

const KINDS: Kind[] = [
  { label: 'Cluster', typeUrl: TypeUrl.Cluster, fullState: true, make: (name, v) => cluster(name, v + 1) },
  {
    label: 'ClusterLoadAssignment',
    typeUrl: TypeUrl.ClusterLoadAssignment,
    fullState: false,
    make: (name, v) => endpoints(name, `10.0.0.${v + 1}`),
  },
  { label: 'Listener', typeUrl: TypeUrl.Listener, fullState: true, make: (name, v) => listener(name, `routes-${v}`) },
  { label: 'RouteConfiguration', typeUrl: TypeUrl.RouteConfiguration, fullState: false, make: (name, v) => route(name, `cluster-${v}`) },
  { label: 'Secret', typeUrl: TypeUrl.Secret, fullState: false, make: (name, v) => secret(name, `value-${v}`) },
];

type Fake = FakeSotwStream | FakeDeltaStream;

function put(fake: Fake, kind: Kind, names: string[], variant = 0): void {
  fake.apply([{ group: SIDECAR_GROUP, typeUrl: kind.typeUrl, upserts: names.map((n) => kind.make(n, variant)) }]);
}

function drop(fake: Fake, kind: Kind, names: string[]): void {
  fake.apply([{ group: SIDECAR_GROUP, typeUrl: kind.typeUrl, removals: names }]);
}

const sorted = (names: string[]) => [...names].sort();

describe.each(KINDS)('SotW $label', (kind) => {
  const typeUrl = kind.typeUrl;

  async function subscribed(names: string[]) {
    const fake = new FakeSotwStream();
    put(fake, kind, ['a', 'b', 'c']);
    await fake.request({ typeUrl, resourceNames: names });
    return { fake, first: fake.response() };
  }

  it('answers the first request with the named resources at the set version, and records the ACK', async () => {
    const { fake, first } = await subscribed(['a', 'b']);
    expect(first.typeUrl).toBe(typeUrl);
    expect(sorted(first.names)).toEqual(['a', 'b']);
    expect(first.versionInfo).toBe(fake.cache.setVersion(SIDECAR_GROUP, typeUrl));
    await fake.ack(first, ['a', 'b']);
    expect(fake.responses()).toEqual([]);
    expect(fake.observer.acks).toEqual([expect.objectContaining({ typeUrl, version: first.versionInfo, nonce: first.nonce })]);
    expect(fake.typeSnapshot(typeUrl)?.versionAcked).toBe(first.versionInfo);
  });

  it('records a NACK, sends nothing again, and keeps the last ACKed version', async () => {
    const { fake, first } = await subscribed(['a', 'b']);
    await fake.ack(first, ['a', 'b']);
    put(fake, kind, ['a'], 1);
    const pushed = fake.response();
    expect(sorted(pushed.names)).toEqual(kind.fullState ? ['a', 'b'] : ['a']);
    await fake.nack(pushed, ['a', 'b'], first.versionInfo);
    expect(fake.responses()).toEqual([]);
    expect(fake.observer.nacks).toEqual([expect.objectContaining({ typeUrl, version: pushed.versionInfo, nonce: pushed.nonce })]);
    expect(fake.typeSnapshot(typeUrl)).toMatchObject({ versionAcked: first.versionInfo, versionSent: pushed.versionInfo, nackCount: 1 });
  });

  it('ignores a request carrying the nonce of an older response', async () => {
    const { fake, first } = await subscribed(['a', 'b']);
    put(fake, kind, ['a'], 1);
    const pushed = fake.response();
    // The client's ACK of the first response crosses the push: it is not an ACK of anything current.
    await fake.ack(first, ['a', 'b', 'c']);
    expect(fake.responses()).toEqual([]);
    expect(fake.observer.acks).toEqual([]);
    await fake.ack(pushed, ['a', 'b']);
    expect(fake.observer.acks).toEqual([expect.objectContaining({ version: pushed.versionInfo })]);
  });

  it('sends a newly subscribed resource, and nothing more of one no longer subscribed', async () => {
    const { fake, first } = await subscribed(['a']);
    expect(first.names).toEqual(['a']);
    await fake.ack(first, ['a', 'b']);
    const more = fake.response();
    // LDS/CDS responses carry the whole subscribed set; the others only what the client lacks.
    expect(sorted(more.names)).toEqual(kind.fullState ? ['a', 'b'] : ['b']);
    await fake.ack(more, ['b']);
    const narrowed = fake.responses();
    if (kind.fullState) expect(narrowed.map((r) => r.names)).toEqual([['b']]);
    else expect(narrowed).toEqual([]);
    put(fake, kind, ['a'], 1);
    expect(fake.responses()).toEqual([]);
    put(fake, kind, ['b'], 1);
    expect(fake.response().names).toEqual(['b']);
  });

  it('recognises an ACK repeating the same names from its bytes: no decoding, no re-subscription; a changed list is taken', async () => {
    const names = Array.from({ length: 1000 }, (_, i) => `cluster-${i}`);
    const fake = new FakeSotwStream();
    put(fake, kind, ['cluster-0', 'cluster-1']);
    await fake.request({ typeUrl, resourceNames: names });
    const first = fake.response();
    const decode = jest.spyOn(messageType('envoy.service.discovery.v3.DiscoveryRequest'), 'decode');
    const resubscribe = jest.spyOn(fake.subscriptions, 'get');
    try {
      await fake.ack(first, names);
      expect(decode).not.toHaveBeenCalled();
      expect(resubscribe).not.toHaveBeenCalled();
      // Still an ACK, with its version and nonce read.
      expect(fake.observer.acks).toEqual([expect.objectContaining({ typeUrl, version: first.versionInfo, nonce: first.nonce })]);
      expect(fake.responses()).toEqual([]);

      // One name fewer: decoded, re-subscribed; a resource then changing outside the list is not sent.
      await fake.ack(first, names.slice(1));
      expect(decode).toHaveBeenCalledTimes(1);
      expect(resubscribe).toHaveBeenCalledTimes(1);
      const narrowed = fake.responses();
      if (kind.fullState) expect(narrowed.map((r) => r.names)).toEqual([['cluster-1']]);
      else expect(narrowed).toEqual([]);
      put(fake, kind, ['cluster-0'], 1);
      expect(fake.responses()).toEqual([]);
      put(fake, kind, ['cluster-1'], 1);
      expect(fake.response().names).toEqual(['cluster-1']);
    } finally {
      decode.mockRestore();
      resubscribe.mockRestore();
    }
  });

  if (kind.fullState) {
    it('wildcard: "*" (and, on the first request, no names) gets every resource, and later ones too', async () => {
      for (const names of [['*'], []]) {
        const { fake, first } = await subscribed(names);
        expect(sorted(first.names)).toEqual(['a', 'b', 'c']);
        await fake.ack(first, names);
        put(fake, kind, ['d']);
        expect(sorted(fake.response().names)).toEqual(['a', 'b', 'c', 'd']);
      }
    });

    it('sends the set without a removed resource', async () => {
      const { fake, first } = await subscribed(['a', 'b']);
      await fake.ack(first, ['a', 'b']);
      drop(fake, kind, ['a']);
      expect(fake.responses().map((r) => r.names)).toEqual([['b']]);
    });
  } else {
    it('sends nothing for a resource nobody named ("*" is only a name here)', async () => {
      const { fake, first } = await subscribed(['a']);
      await fake.ack(first, ['a']);
      put(fake, kind, ['d']);
      put(fake, kind, ['b'], 1);
      expect(fake.responses()).toEqual([]);
    });

    it('sends nothing for a removal (SotW cannot say it for this type; the client stops asking)', async () => {
      const { fake, first } = await subscribed(['a', 'b']);
      await fake.ack(first, ['a', 'b']);
      drop(fake, kind, ['a']);
      expect(fake.responses()).toEqual([]);
    });
  }
});

describe.each(KINDS)('delta $label', (kind) => {
  const typeUrl = kind.typeUrl;

  async function subscribed(names: string[], initialResourceVersions?: Record<string, string>) {
    const fake = new FakeDeltaStream();
    put(fake, kind, ['a', 'b', 'c']);
    await fake.request({ typeUrl, subscribe: names, initialResourceVersions });
    return { fake, first: fake.response() };
  }

  const versionOf = (fake: Fake, name: string) => fake.cache.get(SIDECAR_GROUP, typeUrl, name)!.version;

  it('answers the first subscription with each resource at its version, and records the ACK', async () => {
    const { fake, first } = await subscribed(['a', 'b']);
    expect(sorted(first.names)).toEqual(['a', 'b']);
    for (const resource of first.resources) expect(resource.version).toBe(versionOf(fake, resource.name));
    expect(first.removedResources).toEqual([]);
    await fake.ack(first);
    expect(fake.responses()).toEqual([]);
    expect(fake.observer.acks).toEqual([expect.objectContaining({ typeUrl, nonce: first.nonce })]);
  });

  it('records a NACK, sends nothing again, and keeps the last ACKed version', async () => {
    const { fake, first } = await subscribed(['a', 'b']);
    await fake.ack(first);
    put(fake, kind, ['a'], 1);
    const pushed = fake.response();
    expect(pushed.names).toEqual(['a']);
    await fake.nack(pushed);
    expect(fake.responses()).toEqual([]);
    expect(fake.observer.nacks).toEqual([expect.objectContaining({ typeUrl, nonce: pushed.nonce })]);
    expect(fake.typeSnapshot(typeUrl)).toMatchObject({ versionAcked: first.systemVersionInfo, nackCount: 1 });
  });

  it('does not count an ACK of an older response, but does take a subscription sent with it', async () => {
    const { fake, first } = await subscribed(['a']);
    put(fake, kind, ['a'], 1);
    fake.response();
    await fake.ack(first);
    expect(fake.observer.acks).toEqual([]);
    await fake.request({ typeUrl, subscribe: ['b'], responseNonce: first.nonce });
    expect(fake.response().names).toEqual(['b']);
  });

  it('sends only what a subscription adds, nothing of an unsubscribed resource, and all of it again on re-subscription', async () => {
    const { fake, first } = await subscribed(['a']);
    expect(first.names).toEqual(['a']);
    await fake.request({ typeUrl, subscribe: ['b'] });
    expect(fake.response().names).toEqual(['b']);
    await fake.request({ typeUrl, unsubscribe: ['a'] });
    expect(fake.responses()).toEqual([]);
    put(fake, kind, ['a'], 1);
    expect(fake.responses()).toEqual([]);
    await fake.request({ typeUrl, subscribe: ['a'] });
    const again = fake.response();
    expect(again.names).toEqual(['a']);
    expect(again.resources[0].version).toBe(versionOf(fake, 'a'));
  });

  it('does not resend what initial_resource_versions says the client holds', async () => {
    const fake = new FakeDeltaStream();
    put(fake, kind, ['a', 'b']);
    await fake.request({ typeUrl, subscribe: ['a', 'b'], initialResourceVersions: { a: versionOf(fake, 'a'), b: 'stale' } });
    expect(fake.response().names).toEqual(['b']);
  });

  it('tells the client a subscribed resource is gone', async () => {
    const { fake, first } = await subscribed(['a', 'b']);
    await fake.ack(first);
    drop(fake, kind, ['a']);
    const removal = fake.response();
    expect(removal.removedResources).toEqual(['a']);
    expect(removal.names).toEqual([]);
  });

  if (kind.fullState) {
    it('wildcard: "*" (and, on the first request, no names) gets every resource, and later ones too', async () => {
      for (const names of [['*'], []]) {
        const { fake, first } = await subscribed(names);
        expect(sorted(first.names)).toEqual(['a', 'b', 'c']);
        await fake.ack(first);
        put(fake, kind, ['d']);
        expect(fake.response().names).toEqual(['d']);
      }
    });

    it('subscribing to "*" after named subscriptions sends the resources not yet held', async () => {
      const { fake, first } = await subscribed(['a']);
      await fake.ack(first);
      await fake.request({ typeUrl, subscribe: ['*'] });
      expect(sorted(fake.response().names)).toEqual(['b', 'c']);
    });
  } else {
    it('a first request naming nothing gets an empty answer and nothing later ("*" is no wildcard here)', async () => {
      const { fake, first } = await subscribed([]);
      expect(first.names).toEqual([]);
      await fake.ack(first);
      put(fake, kind, ['d']);
      expect(fake.responses()).toEqual([]);
    });
  }
});
