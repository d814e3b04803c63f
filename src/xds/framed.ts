// grpc-js frames every response it writes (a 5-byte prefix: a compressed flag and the length) by
// allocating a new buffer and copying the message into it. Most of what Switchyard writes is
// shared between streams — a group's whole set, ~1 MB, goes to every proxy that connects — so
// that is one copy per stream of bytes that are the same for all: a third of the server's CPU
// while 2,000 proxies sync. Responses are therefore assembled with room for the prefix in front
// of them, and grpc-js is taught to write such a message's frame as it stands.
import interceptors from '@grpc/grpc-js/build/src/server-interceptors.js';

const PREFIX_BYTES = 5;

/** Messages from allocateFramed: each is preceded, in its own memory, by its frame prefix. */
const framedMessages = new WeakSet<Uint8Array>();

/** A buffer for a message of `length` bytes, with its gRPC frame prefix written in front of it. */
export function allocateFramed(length: number): Buffer {
  const frame = Buffer.allocUnsafe(PREFIX_BYTES + length);
  frame[0] = 0; // not compressed
  frame.writeUInt32BE(length, 1);
  const message = frame.subarray(PREFIX_BYTES);
  framedMessages.add(message);
  return message;
}

/** The whole frame (prefix and message) of a message from allocateFramed; undefined for any other value. */
export function frameOf(message: unknown): Buffer | undefined {
  if (!(message instanceof Uint8Array) || !framedMessages.has(message)) return undefined;
  return Buffer.from(message.buffer, message.byteOffset - PREFIX_BYTES, message.length + PREFIX_BYTES);
}

interface SerializingCall {
  serializeMessage(value: unknown): Buffer;
}

let installed = false;

/**
 * Makes grpc-js's server calls write a framed message's own frame instead of a copy. False when
 * this grpc-js has no such step (its internals changed): responses are then copied as before.
 */
export function installFramedWrites(): boolean {
  if (installed) return true;
  const base = (interceptors as unknown as { BaseServerInterceptingCall?: { prototype: SerializingCall } }).BaseServerInterceptingCall
    ?.prototype;
  if (!base || typeof base.serializeMessage !== 'function') return false;
  const copying = base.serializeMessage;
  base.serializeMessage = function (this: SerializingCall, value: unknown): Buffer {
    return frameOf(value) ?? copying.call(this, value);
  };
  installed = true;
  return true;
}
