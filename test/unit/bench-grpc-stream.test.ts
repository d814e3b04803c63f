// The load generator's gRPC stream over node:http2: messages cut out of the response body
// however the chunks fall, against a real grpc-js server (messages, status, end of stream) and
// a bare HTTP/2 server (what the server sees of the connection, a reset stream).
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import net from 'node:net';
import { bytesMethod } from '../../bench/floor-server.js';
import { GrpcStatusError, GrpcStream, MessageReader } from '../../bench/loadgen/grpc-stream.js';
import { DELTA_METHOD } from '../../bench/loadgen/xds-messages.js';

const ENVOY_WINDOW = 256 * 1024 * 1024;

function framed(messages: Buffer[]): Buffer {
  return Buffer.concat(
    messages.flatMap((m) => {
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(m.length, 1);
      return [prefix, m];
    }),
  );
}

/** A message of `length` bytes that differs from its neighbours. */
const message = (length: number, seed: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff));

/** Messages as strings, which Jest compares fast and prints readably. */
const hex = (messages: Buffer[]): string[] => messages.map((m) => m.toString('hex'));

describe('MessageReader', () => {
  const messages = [message(3, 1), message(0, 2), message(1, 3), message(40_000, 4), message(6, 5)];
  const body = framed(messages);

  it('reads the same messages wherever the body is cut in two', () => {
    for (let cut = 0; cut <= body.length; cut += cut < 64 || cut > body.length - 64 ? 1 : 997) {
      const read: Buffer[] = [];
      const reader = new MessageReader((m) => read.push(Buffer.from(m)));
      reader.push(body.subarray(0, cut));
      reader.push(body.subarray(cut));
      expect(hex(read)).toEqual(hex(messages));
      expect(reader.midMessage).toBe(false);
    }
  });

  it('reads messages delivered a byte at a time, and knows when it stops inside one', () => {
    const read: Buffer[] = [];
    const reader = new MessageReader((m) => read.push(Buffer.from(m)));
    const head = framed(messages.slice(0, 3));
    for (let i = 0; i < head.length; i++) reader.push(head.subarray(i, i + 1));
    expect(hex(read)).toEqual(hex(messages.slice(0, 3)));
    reader.push(framed([message(10, 9)]).subarray(0, 3));
    expect(reader.midMessage).toBe(true);
    reader.push(framed([message(10, 9)]).subarray(3, 8));
    expect(reader.midMessage).toBe(true);
  });

  it('hands on a message that sits inside one chunk as a view of that chunk, without copying', () => {
    const views: Buffer[] = [];
    const chunk = framed([message(100, 1), message(200, 2)]);
    new MessageReader((m) => views.push(m)).push(chunk);
    expect(views.map((v) => [v.buffer, v.byteOffset, v.length])).toEqual([
      [chunk.buffer, chunk.byteOffset + 5, 100],
      [chunk.buffer, chunk.byteOffset + 110, 200],
    ]);
  });

  it('refuses a compressed message, naming it', () => {
    const chunk = framed([message(4, 1)]);
    chunk[0] = 1;
    expect(() => new MessageReader(() => undefined).push(chunk)).toThrow(/compressed message/);
  });
});

interface CallResult {
  messages: Buffer[];
  chunks: number;
  error?: GrpcStatusError;
  ended: boolean;
}

/** Opens a stream, sends `request`, and collects what comes back until the call ends. */
function call(target: string, request: string): Promise<CallResult> {
  return new Promise((resolve) => {
    const result: CallResult = { messages: [], chunks: 0, ended: false };
    const stream = new GrpcStream({
      target,
      path: DELTA_METHOD,
      windowBytes: ENVOY_WINDOW,
      // A copy: the message may be a view of a chunk, valid only during the call.
      onMessage: (m) => result.messages.push(Buffer.from(m)),
      onError: (error) => done({ error }),
      onEnd: () => done({ ended: true }),
    });
    // The connection stays open after the call, as a grpc-js channel does, until the client closes it.
    const done = (outcome: Partial<CallResult>): void => {
      resolve({ ...result, chunks: stream.chunks, ...outcome });
      stream.cancel();
    };
    stream.write(Buffer.from(request));
  });
}

describe('GrpcStream against a grpc-js server', () => {
  const big = message(300_000, 7);
  const small = Array.from({ length: 50 }, (_, i) => message(20 + i, i));
  let server: grpc.Server;
  let target: string;
  const seen: { requests: string[]; userAgent: string[]; cancelled: number } = { requests: [], userAgent: [], cancelled: 0 };

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(
      {
        Delta: bytesMethod(DELTA_METHOD),
      },
      {
        Delta: (stream: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          seen.userAgent.push(String(stream.metadata.get('user-agent')[0]));
          stream.on('cancelled', () => seen.cancelled++);
          stream.on('error', () => undefined);
          stream.on('data', (request: Buffer) => {
            const command = request.toString();
            seen.requests.push(command);
            if (command === 'big and many') {
              stream.write(big);
              for (const m of small) stream.write(m);
              stream.end();
            } else if (command === 'one, then fail') {
              stream.write(small[0]!);
              stream.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'too many streams, try 100%' });
            } else if (command === 'fail at once') {
              stream.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'not this node' });
            }
            // 'hold': keep the stream open
          });
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    target = `127.0.0.1:${port}`;
  });

  afterAll(() => server.forceShutdown());

  it('receives a message split over many chunks and many small ones, in order, then the end of the stream', async () => {
    const result = await call(target, 'big and many');
    expect(result.error).toBeUndefined();
    expect(result.ended).toBe(true);
    expect(result.messages).toHaveLength(1 + small.length);
    expect(hex(result.messages)).toEqual(hex([big, ...small]));
    // HTTP/2 cuts the big one into frames of at most 16 KiB.
    expect(result.chunks).toBeGreaterThan(big.length / 16384);
    expect(seen.requests).toContain('big and many');
    // The server sees the client grpc-js is.
    expect(seen.userAgent[0]).toMatch(/^grpc-node-js\/\d/);
  });

  it('reports a non-OK status in the trailers as the error, after the messages before it', async () => {
    const result = await call(target, 'one, then fail');
    expect(hex(result.messages)).toEqual(hex([small[0]!]));
    expect(result.ended).toBe(false);
    expect(result.error).toBeInstanceOf(GrpcStatusError);
    expect(result.error!.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(result.error!.message).toBe('8 RESOURCE_EXHAUSTED: too many streams, try 100%');
  });

  it('reports a status sent with the headers alone (trailers-only)', async () => {
    const result = await call(target, 'fail at once');
    expect(result.messages).toEqual([]);
    expect(result.error!.message).toBe('7 PERMISSION_DENIED: not this node');
  });

  it('cancels: the server sees the call cancelled, and the client hears nothing more', async () => {
    const events: string[] = [];
    const before = seen.cancelled;
    const stream = new GrpcStream({
      target,
      path: DELTA_METHOD,
      windowBytes: ENVOY_WINDOW,
      onMessage: () => events.push('message'),
      onError: (e) => events.push(e.message),
      onEnd: () => events.push('end'),
    });
    stream.write(Buffer.from('hold'));
    while (!seen.requests.includes('hold')) await new Promise((r) => setTimeout(r, 10));
    stream.cancel();
    while (seen.cancelled === before) await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual([]);
  });
});

describe('GrpcStream against a bare HTTP/2 server', () => {
  it("announces Envoy's stream and connection windows and sends gRPC's request headers", async () => {
    const server = http2.createServer();
    const seen = new Promise<{ headers: http2.IncomingHttpHeaders; streamWindow?: number; connectionWindow?: number }>((resolve) => {
      server.on('stream', (stream, headers) => {
        resolve({
          headers,
          streamWindow: stream.session?.remoteSettings.initialWindowSize,
          connectionWindow: stream.session?.state.remoteWindowSize,
        });
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const stream = new GrpcStream({
      target: `127.0.0.1:${port}`,
      path: DELTA_METHOD,
      windowBytes: ENVOY_WINDOW,
      onMessage: () => undefined,
      onError: () => undefined,
      onEnd: () => undefined,
    });
    try {
      const { headers, streamWindow, connectionWindow } = await seen;
      expect(headers).toMatchObject({
        ':method': 'POST',
        ':path': DELTA_METHOD,
        ':authority': `127.0.0.1:${port}`,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      expect(streamWindow).toBe(ENVOY_WINDOW);
      expect(connectionWindow).toBe(ENVOY_WINDOW);
    } finally {
      stream.cancel();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reads several messages out of one DATA frame', async () => {
    // grpc-js's server writes each message on its own; a server may well put several in one frame.
    const messages = [message(10, 1), message(0, 2), message(300, 3), message(5, 4)];
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(framed(messages));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const result = await call(`127.0.0.1:${(server.address() as net.AddressInfo).port}`, 'anything');
      expect(hex(result.messages)).toEqual(hex(messages));
      expect(result.chunks).toBe(1);
      expect(result.ended).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reports a reset stream and a refused connection as errors', async () => {
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.on('error', () => undefined); // closing with an error code fails this side too
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const reset = await call(`127.0.0.1:${port}`, 'anything');
      expect(reset.error!.message).toBe('13 INTERNAL: Received RST_STREAM with code 2');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // Nothing listens on the port any more.
    const refused = await call(`127.0.0.1:${port}`, 'anything');
    expect(refused.error!.code).toBe(grpc.status.UNAVAILABLE);
    expect(refused.error!.message).toMatch(/ECONNREFUSED/);
  });
});
