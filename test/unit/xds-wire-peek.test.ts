// The raw-bytes readers of requests (src/xds/wire.ts): what they read, what they skip, and what
// they hand to the full decoder. A wrong answer here would misread an ACK or a subscription.
import protobuf from 'protobufjs';
import { peekDeltaAck, peekDeltaSubscribe, peekSotwRequest, withoutNames } from '../../src/xds/wire.js';
import { messageType } from '../../src/envoy/protos.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const key = (field: number, wireType: number): number => (field << 3) | wireType;

/** A DiscoveryRequest: version 1, node 2, names 3, type 4, nonce 5; `extra` writes more fields where it is called. */
function sotwRequest(extra: (w: protobuf.Writer) => void = () => {}): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(key(1, 2)).string('v1');
  w.uint32(key(2, 2)).fork().uint32(key(1, 2)).string('node-a').ldelim();
  extra(w);
  w.uint32(key(3, 2)).string('a').uint32(key(3, 2)).string('b');
  w.uint32(key(4, 2)).string(CDS);
  w.uint32(key(5, 2)).string('n7');
  return w.finish();
}

describe('peekSotwRequest', () => {
  it('reads version, type, nonce and the names as one run of raw entries', () => {
    const peek = peekSotwRequest(sotwRequest());
    expect(peek).toMatchObject({ versionInfo: 'v1', typeUrl: CDS, responseNonce: 'n7', hasErrorDetail: false });
    expect([...peek!.names]).toEqual([key(3, 2), 1, 0x61, key(3, 2), 1, 0x62]);
  });

  it('steps over unknown fields of every wire type: varint, 64-bit and 32-bit', () => {
    const peek = peekSotwRequest(
      sotwRequest((w) => {
        w.uint32(key(20, 0)).uint64(300);
        w.uint32(key(21, 1)).fixed64(0x01020304);
        w.uint32(key(22, 5)).fixed32(0x0a0b0c0d);
      }),
    );
    expect(peek).toMatchObject({ versionInfo: 'v1', typeUrl: CDS, responseNonce: 'n7' });
    expect(peek!.names.length).toBe(6);
  });

  it('leaves to the full decoder names split by another field, a truncated fixed field, and a group', () => {
    const split = protobuf.Writer.create();
    split.uint32(key(3, 2)).string('a').uint32(key(4, 2)).string(CDS).uint32(key(3, 2)).string('b');
    expect(peekSotwRequest(split.finish())).toBeUndefined();
    const truncated = Uint8Array.from([...sotwRequest(), key(21, 1), 1, 2, 3]);
    expect(peekSotwRequest(truncated)).toBeUndefined();
    expect(peekSotwRequest(Uint8Array.from([key(9, 3)]))).toBeUndefined();
  });

  it('steps over names that are one of the expected lists whole, and reads what follows them', () => {
    const names = Buffer.from([key(3, 2), 1, 0x61, key(3, 2), 1, 0x62]);
    const other = Buffer.from([key(3, 2), 1, 0x7a]);
    const peek = peekSotwRequest(sotwRequest(), [other, names]);
    expect(peek?.sameAs).toBe(names);
    expect(peek).toMatchObject({ versionInfo: 'v1', typeUrl: CDS, responseNonce: 'n7' });
    expect([...peek!.names]).toEqual([...names]);
  });

  it('does not take names for the expected ones when they only begin like them or differ', () => {
    const prefix = Buffer.from([key(3, 2), 1, 0x61]);
    const differs = Buffer.from([key(3, 2), 1, 0x61, key(3, 2), 1, 0x63]);
    const peek = peekSotwRequest(sotwRequest(), [prefix, differs]);
    expect(peek?.sameAs).toBeUndefined();
    expect([...peek!.names]).toEqual([key(3, 2), 1, 0x61, key(3, 2), 1, 0x62]);
    expect(peek?.typeUrl).toBe(CDS);
  });

  it('notes an error detail (a NACK)', () => {
    const nack = sotwRequest((w) => w.uint32(key(6, 2)).fork().uint32(key(2, 2)).string('bad').ldelim());
    expect(peekSotwRequest(nack)?.hasErrorDetail).toBe(true);
  });
});

/** A DeltaDiscoveryRequest: node 1, type 2, nonce 6, and what `extra` adds. */
function deltaRequest(extra: (w: protobuf.Writer) => void = () => {}): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(key(1, 2)).fork().uint32(key(1, 2)).string('node-a').ldelim();
  w.uint32(key(2, 2)).string(CDS);
  w.uint32(key(6, 2)).string('n3');
  extra(w);
  return w.finish();
}

describe('peekDeltaAck', () => {
  it('reads a plain ACK: its type and nonce', () => {
    expect(peekDeltaAck(deltaRequest())).toEqual({ typeUrl: CDS, responseNonce: 'n3' });
  });

  it('reads a type URL it does not serve as written', () => {
    const other = 'type.example/unknown';
    const w = protobuf.Writer.create();
    w.uint32(key(2, 2)).string(other);
    expect(peekDeltaAck(w.finish())).toEqual({ typeUrl: other, responseNonce: '' });
  });

  it.each([
    ['a subscription', (w: protobuf.Writer) => w.uint32(key(3, 2)).string('a')],
    ['an unsubscription', (w: protobuf.Writer) => w.uint32(key(4, 2)).string('a')],
    ['initial versions', (w: protobuf.Writer) => w.uint32(key(5, 2)).fork().ldelim()],
    ['an error detail', (w: protobuf.Writer) => w.uint32(key(7, 2)).fork().ldelim()],
    ['an unknown varint field', (w: protobuf.Writer) => w.uint32(key(10, 0)).uint32(1)],
  ])('hands a request with %s to the full decoder', (_what, extra) => {
    expect(peekDeltaAck(deltaRequest(extra))).toBeUndefined();
  });

  it('refuses bytes that do not parse', () => {
    const whole = deltaRequest();
    expect(peekDeltaAck(whole.subarray(0, whole.length - 1))).toBeUndefined();
  });
});

describe('peekDeltaSubscribe', () => {
  const subscribing = (extra: (w: protobuf.Writer) => void = () => {}): Buffer =>
    Buffer.from(
      deltaRequest((w) => {
        w.uint32(key(3, 2)).string('a').uint32(key(3, 2)).string('b');
        extra(w);
      }),
    );

  it('finds the subscribed names as one run of raw entries, and what is left decodes to the other fields', () => {
    const bytes = subscribing();
    const peek = peekDeltaSubscribe(bytes);
    expect(peek?.typeUrl).toBe(CDS);
    expect([...peek!.names]).toEqual([key(3, 2), 1, 0x61, key(3, 2), 1, 0x62]);
    const rest = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest').decode(withoutNames(bytes, peek!.names));
    expect(rest.toJSON()).toEqual({ node: { id: 'node-a' }, typeUrl: CDS, responseNonce: 'n3' });
  });

  it.each([
    ['nothing to subscribe to (an ACK)', () => Buffer.from(deltaRequest())],
    ['an unsubscription too', () => subscribing((w) => w.uint32(key(4, 2)).string('c'))],
    ['initial versions', () => subscribing((w) => w.uint32(key(5, 2)).fork().ldelim())],
    ['an error detail', () => subscribing((w) => w.uint32(key(7, 2)).fork().ldelim())],
    ['names split by another field', () => subscribing((w) => w.uint32(key(6, 2)).string('n4').uint32(key(3, 2)).string('c'))],
    ['an unknown varint field', () => subscribing((w) => w.uint32(key(10, 0)).uint32(1))],
  ])('hands a request with %s to the full decoder', (_what, request) => {
    expect(peekDeltaSubscribe(request())).toBeUndefined();
  });
});
