// grpc-js's decoder lets go of a request's chunks once the request is complete (they are views
// into Node's socket read buffers; kept per stream until its next request, a SotW proxy's 40 KB
// ACKs pinned ~80 MB at 2,000 streams and cost a full GC per change). If grpc-js changes the
// decoder this hooks into, the first test fails: requests still decode, but the chunks stay pinned.
import decoderModule from '@grpc/grpc-js/build/src/stream-decoder.js';
import { installReleasingDecoder } from '../../src/xds/releasing-decoder.js';

const { StreamDecoder } = decoderModule;

/** A buffer with memory of its own (small Buffer.from copies share Node's pool). */
function chunk(bytes: number[]): Buffer {
  const memory = new Uint8Array(bytes.length);
  memory.set(bytes);
  return Buffer.from(memory.buffer);
}

/** Whether any field of the decoder (or a list in one) is a view of one of these chunks' memory. */
function holdsAny(decoder: object, chunks: Buffer[]): boolean {
  const memory = new Set(chunks.map((c) => c.buffer));
  const views = Object.values(decoder).flatMap((value: unknown) => (Array.isArray(value) ? value : [value]));
  return views.some((view) => view instanceof Uint8Array && memory.has(view.buffer));
}

/** A gRPC frame: not compressed, a 4-byte length, the message. */
function frame(message: number[]): number[] {
  return [0, 0, 0, 0, message.length, ...message];
}

describe('releasing decoder', () => {
  beforeAll(() => {
    expect(installReleasingDecoder()).toBe(true);
  });

  it('holds none of a complete request’s chunks', () => {
    const bytes = frame([1, 2, 3, 4, 5, 6, 7, 8]);
    const chunks = [chunk(bytes.slice(0, 3)), chunk(bytes.slice(3, 9)), chunk(bytes.slice(9))];
    const decoder = new StreamDecoder(-1);
    const messages = chunks.flatMap((c) => decoder.write(c));
    expect(messages.map((m) => [...m])).toEqual([bytes]);
    expect(holdsAny(decoder, chunks)).toBe(false);
  });

  it('keeps what a request still arriving needs, split in its length or its body', () => {
    const first = frame([9, 8, 7]);
    const second = frame([6, 5, 4, 3]);
    const bytes = [...first, ...second];
    for (let at = 1; at < bytes.length; at++) {
      const decoder = new StreamDecoder(-1);
      const chunks = [chunk(bytes.slice(0, at)), chunk(bytes.slice(at))];
      const messages = chunks.flatMap((c) => decoder.write(c));
      expect(messages.map((m) => [...m])).toEqual([first, second]);
      expect(holdsAny(decoder, chunks)).toBe(false);
    }
  });

  it('decodes several requests in one chunk', () => {
    const bytes = [...frame([1]), ...frame([]), ...frame([2, 3])];
    const decoder = new StreamDecoder(-1);
    expect(decoder.write(chunk(bytes)).map((m) => [...m])).toEqual([frame([1]), frame([]), frame([2, 3])]);
  });
});
