// Responses assembled with their gRPC frame prefix in front are written by grpc-js as they stand,
// not copied into a new frame (2,000 proxies connecting would otherwise copy the same ~1 MB each).
// If grpc-js changes the step this hooks into, the first test fails: responses would still go
// out, but copied again, and the hook must be looked at.
import interceptors from '@grpc/grpc-js/build/src/server-interceptors.js';
import { allocateFramed, frameOf, installFramedWrites } from '../../src/xds/framed.js';

/** grpc-js's own framing step of a server call, with the identity serializer the xDS methods use. */
function serializeAsGrpcJs(value: Buffer): Buffer {
  const base = (interceptors as unknown as { BaseServerInterceptingCall: { prototype: { serializeMessage(v: unknown): Buffer } } })
    .BaseServerInterceptingCall.prototype;
  return base.serializeMessage.call({ handler: { serialize: (v: Buffer) => v } }, value);
}

describe('framed writes', () => {
  it('hook into the installed grpc-js', () => {
    expect(installFramedWrites()).toBe(true);
  });

  it('write a framed message as its own frame, without a copy', () => {
    installFramedWrites();
    const message = allocateFramed(3);
    message.set([7, 8, 9]);
    const frame = serializeAsGrpcJs(message);
    expect([...frame]).toEqual([0, 0, 0, 0, 3, 7, 8, 9]);
    expect(frame.buffer).toBe(message.buffer);
    expect(frame.byteOffset).toBe(message.byteOffset - 5);
  });

  it('still copy any other message into a frame of its own', () => {
    installFramedWrites();
    const plain = Buffer.from([1, 2]);
    expect([...serializeAsGrpcJs(plain)]).toEqual([0, 0, 0, 0, 2, 1, 2]);
    // A view into a framed message is not framed itself.
    const whole = allocateFramed(4);
    whole.set([1, 2, 3, 4]);
    const part = whole.subarray(1);
    expect(frameOf(part)).toBeUndefined();
    expect([...serializeAsGrpcJs(part)]).toEqual([0, 0, 0, 0, 3, 2, 3, 4]);
  });
});
