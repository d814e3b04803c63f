// One gRPC bidirectional stream on its own HTTP/2 connection, spoken over node:http2 directly.
// Why not the grpc-js client: a simulated Envoy receives ~1 MB per first response, and grpc-js's
// receive path (object-mode streams, interceptors, promise turns per message, a resolver and a
// load balancer per connection) cost the generator more CPU than the server spent sending; the
// generator then bounded the benchmark. The bytes on the wire are the same: the request headers
// grpc-js sends, its connection settings, length-prefixed messages, and the status in trailers.
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import net from 'node:net';

/** gRPC status codes by number (grpc/doc/statuscodes.md). */
const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;
const CANCELLED = 1;
const UNKNOWN = 2;
const INTERNAL = 13;
const UNAVAILABLE = 14;
const PREFIX_BYTES = 5;

/** A call that ended with a non-OK status, named as grpc-js names it ("14 UNAVAILABLE: ..."). */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${STATUS_NAMES[code] ?? 'UNKNOWN'}: ${details}`);
  }
}

export interface GrpcStreamOptions {
  /** host:port */
  target: string;
  /** The method's path, /package.Service/Method. */
  path: string;
  /** HTTP/2 flow-control window of the stream and of the connection, in bytes. */
  windowBytes: number;
  /**
   * Each message from the server, in order. The buffer may be a view into the received chunk:
   * it is valid only during the call (copy what you keep).
   */
  onMessage: (message: Buffer) => void;
  /** The call ended with a non-OK status, a reset stream or a lost connection. */
  onError: (error: GrpcStatusError) => void;
  /** The server ended the call with status OK. */
  onEnd: () => void;
}

/** The user agent grpc-js's client sends. */
const USER_AGENT = `grpc-node-js/${(createRequire(import.meta.url)('@grpc/grpc-js/package.json') as { version: string }).version}`;

export class GrpcStream {
  /** DATA chunks received (each message may span several, or share one). */
  chunks = 0;
  private readonly options: GrpcStreamOptions;
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  private readonly reader: MessageReader;
  private status: GrpcStatusError | 'ok' | undefined;
  private httpStatus: number | undefined;
  /** Why the stream or its connection closed, when Node said (a reset stream, a refused or lost connection). */
  private closeError: (Error & { code?: string }) | undefined;
  private settled = false;

  constructor(options: GrpcStreamOptions) {
    this.options = options;
    this.reader = new MessageReader((message) => {
      if (!this.settled) options.onMessage(message);
    });
    // The socket and settings grpc-js's client connects with (the window as its 'grpc-node.flow_control_window').
    const colon = options.target.lastIndexOf(':');
    const host = options.target.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(options.target.slice(colon + 1));
    this.session = http2.connect(`http://${options.target}`, {
      createConnection: () => net.connect({ host, port, noDelay: true }),
      settings: { initialWindowSize: options.windowBytes },
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    });
    // The connection's window (the setting above covers each stream's).
    this.session.once('connect', (session: http2.ClientHttp2Session) => session.setLocalWindowSize(options.windowBytes));
    this.session.on('error', (error: Error) => {
      this.closeError ??= error;
    });
    this.stream = this.session.request({
      ':authority': options.target,
      ':method': 'POST',
      ':path': options.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': USER_AGENT,
      'grpc-accept-encoding': 'identity,deflate,gzip',
      'accept-encoding': 'identity',
    });
    this.stream.on('response', (headers) => {
      this.httpStatus = Number(headers[':status']);
      // A trailers-only response: the status comes with the headers.
      if (headers['grpc-status'] !== undefined) this.serverEnded(headers);
    });
    this.stream.on('trailers', (trailers) => this.serverEnded(trailers));
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('error', (error: Error) => {
      this.closeError ??= error;
    });
    // 'end' follows the last 'data'; a reset stream's code is known only at 'close'.
    this.stream.on('end', () => {
      if (this.status) this.settle();
    });
    this.stream.on('close', () => this.settle());
  }

  /** Sends one message (the 5-byte prefix and the bytes, as one DATA write). */
  write(message: Uint8Array): void {
    if (this.settled || this.stream.destroyed) return;
    const frame = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, PREFIX_BYTES);
    this.stream.write(frame);
  }

  /** Cancels the call (RST_STREAM CANCEL) and closes the connection; no callback follows. */
  cancel(): void {
    this.settled = true;
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.session.close();
  }

  private onData(chunk: Buffer): void {
    this.chunks++;
    if (this.settled) return;
    try {
      this.reader.push(chunk);
    } catch (error) {
      this.fail(new GrpcStatusError(INTERNAL, (error as Error).message));
    }
  }

  /** The server sent the call's status: read it, and half-close our side as grpc-js does then. */
  private serverEnded(headers: http2.IncomingHttpHeaders): void {
    this.readStatus(headers);
    if (!this.stream.writableEnded) this.stream.end();
  }

  private readStatus(headers: http2.IncomingHttpHeaders): void {
    if (this.status) return;
    const code = Number(headers['grpc-status']);
    if (code === 0) {
      this.status = 'ok';
      return;
    }
    const raw = headers['grpc-message'];
    let details = typeof raw === 'string' ? raw : '';
    try {
      details = decodeURIComponent(details);
    } catch {
      // Not percent-encoded as the spec asks: keep it as sent.
    }
    this.status = new GrpcStatusError(Number.isInteger(code) && code > 0 && code <= 16 ? code : UNKNOWN, details);
  }

  private settle(): void {
    if (this.settled) return;
    if (this.status === 'ok') {
      if (this.reader.midMessage) this.fail(new GrpcStatusError(INTERNAL, 'the stream ended inside a message'));
      else {
        this.settled = true;
        this.options.onEnd();
      }
    } else if (this.status) this.fail(this.status);
    else this.fail(this.statusWithoutTrailers());
  }

  /** A stream that closed without a gRPC status: why, in grpc-js's terms. */
  private statusWithoutTrailers(): GrpcStatusError {
    if (this.httpStatus !== undefined && this.httpStatus !== 200)
      return new GrpcStatusError(UNKNOWN, `Received HTTP status code ${this.httpStatus}`);
    // Node names a reset stream ERR_HTTP2_STREAM_ERROR; anything else is the connection's failure.
    if (this.closeError && this.closeError.code !== 'ERR_HTTP2_STREAM_ERROR')
      return new GrpcStatusError(UNAVAILABLE, this.closeError.message);
    const rstCode = this.stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR;
    switch (rstCode) {
      case http2.constants.NGHTTP2_NO_ERROR:
        return new GrpcStatusError(UNAVAILABLE, 'the stream closed without a gRPC status');
      case http2.constants.NGHTTP2_REFUSED_STREAM:
        return new GrpcStatusError(UNAVAILABLE, 'Stream refused by server');
      case http2.constants.NGHTTP2_CANCEL:
        return new GrpcStatusError(CANCELLED, 'Call cancelled');
      default:
        return new GrpcStatusError(INTERNAL, `Received RST_STREAM with code ${rstCode}`);
    }
  }

  private fail(error: GrpcStatusError): void {
    if (this.settled) return;
    this.settled = true;
    this.options.onError(error);
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.session.close();
  }
}

/**
 * Cuts a gRPC response body into messages (a 5-byte prefix: compressed flag, big-endian length).
 * A message inside one chunk is handed on as a view of it; one spread over chunks is copied once,
 * into a buffer of its final size.
 */
export class MessageReader {
  private readonly onMessage: (message: Buffer) => void;
  /** The 5-byte prefix of the next message when it arrives split across chunks. */
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixFill = 0;
  /** The message being reassembled from several chunks, and how much of it has arrived. */
  private message: Buffer | undefined;
  private messageFill = 0;

  constructor(onMessage: (message: Buffer) => void) {
    this.onMessage = onMessage;
  }

  /** Whether the bytes so far end inside a message (or its prefix). */
  get midMessage(): boolean {
    return this.message !== undefined || this.prefixFill > 0;
  }

  /** Reads one chunk of the body; throws on a compressed message. */
  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.message) {
        const take = Math.min(this.message.length - this.messageFill, end - pos);
        chunk.copy(this.message, this.messageFill, pos, pos + take);
        this.messageFill += take;
        pos += take;
        if (this.messageFill === this.message.length) {
          const message = this.message;
          this.message = undefined;
          this.onMessage(message);
        }
        continue;
      }
      let compressed: number;
      let length: number;
      if (this.prefixFill === 0 && end - pos >= PREFIX_BYTES) {
        compressed = chunk[pos]!;
        length = chunk.readUInt32BE(pos + 1);
        pos += PREFIX_BYTES;
      } else {
        const take = Math.min(PREFIX_BYTES - this.prefixFill, end - pos);
        chunk.copy(this.prefix, this.prefixFill, pos, pos + take);
        this.prefixFill += take;
        pos += take;
        if (this.prefixFill < PREFIX_BYTES) return;
        this.prefixFill = 0;
        compressed = this.prefix[0]!;
        length = this.prefix.readUInt32BE(1);
      }
      // We never send grpc-encoding, and a server compresses only with an encoding configured.
      if (compressed !== 0) throw new Error('received a compressed message; the load generator reads only uncompressed ones');
      if (end - pos >= length) {
        const message = chunk.subarray(pos, pos + length);
        pos += length;
        this.onMessage(message);
      } else {
        this.message = Buffer.allocUnsafe(length);
        this.messageFill = 0;
      }
    }
  }
}
