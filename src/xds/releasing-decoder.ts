// grpc-js puts each request back together from the HTTP/2 data chunks it arrived in, and its
// decoder keeps the finished message's chunks until the next message starts. Those chunks are
// views into Node's socket read buffers. A SotW proxy's ACK names every subscription (~40 KB at
// 1,000 EDS names), so 2,000 streams kept ~80 MB of read buffers alive from one change to the
// next: held by long-lived decoders, they outlived the young generation, and V8 answered the
// external memory they pinned with a full mark-compact for almost every change. The decoder is
// taught to let go of them once a message is complete.
import decoderModule from '@grpc/grpc-js/build/src/stream-decoder.js';

/** The parts of grpc-js's StreamDecoder this hook reads and clears. */
interface DecoderInternals {
  readState: number;
  readPartialMessage: Buffer[];
  readCompressFlag: Buffer;
  write(data: Buffer): Buffer[];
}

/** grpc-js's ReadState.NO_DATA: between two messages, where a new message's first byte resets both fields. */
const BETWEEN_MESSAGES = 0;
/** Stands in for the compressed-flag byte between messages (the decoder reassigns it before reading it). */
const NO_FLAG = Buffer.alloc(1);

let installed = false;

/**
 * Makes grpc-js's decoder drop its references to a request's chunks once the request is complete.
 * False when this grpc-js has no such decoder (its internals changed): the chunks are then kept
 * until each stream's next request, as before.
 */
export function installReleasingDecoder(): boolean {
  if (installed) return true;
  const StreamDecoder = (decoderModule as unknown as { StreamDecoder?: new (maxLength: number) => DecoderInternals }).StreamDecoder;
  if (typeof StreamDecoder?.prototype.write !== 'function') return false;
  // The fields still mean what this hook takes them to: after one whole message, the decoder is
  // between messages and still holds the message's chunk.
  const probe = new StreamDecoder(-1);
  const decoded = probe.write(Buffer.from([0, 0, 0, 0, 1, 7]));
  if (decoded.length !== 1 || probe.readState !== BETWEEN_MESSAGES || !Array.isArray(probe.readPartialMessage)) return false;
  const decoder = StreamDecoder.prototype;
  const write = decoder.write;
  decoder.write = function (this: DecoderInternals, data: Buffer): Buffer[] {
    const messages = write.call(this, data);
    if (this.readState === BETWEEN_MESSAGES) {
      this.readPartialMessage = [];
      this.readCompressFlag = NO_FLAG;
    }
    return messages;
  };
  installed = true;
  return true;
}
