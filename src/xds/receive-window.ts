// A SotW proxy repeats every name it subscribes to in each request, its ACKs included: ~30 KB per
// ACK at 1,000 EDS names. With HTTP/2's default windows of 64 KiB, half a window is gone after
// one such ACK, so the server owed the proxy a WINDOW_UPDATE (for the stream and for the
// connection) after nearly every ACK: a frame and a write of its own per proxy per change. The
// xDS port advertises larger windows (grpc-js has no option for them), so a proxy is sent a
// window update every few dozen ACKs. A window is credit, not memory: it bounds what a proxy may
// send before the server reads it, and the server reads every request as it comes.
import type * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import { onEachHttp2Server } from './grpc-http2-servers.js';

/** The window the xDS port gives each stream and each connection. */
export const RECEIVE_WINDOW = 1024 * 1024;

/**
 * Makes this grpc-js server's connections and streams advertise RECEIVE_WINDOW. False when grpc-js
 * has no such step (its internals changed): its connections then keep HTTP/2's default windows.
 */
export function widenReceiveWindows(server: grpc.Server): boolean {
  return onEachHttp2Server(server, (http2Server) => {
    // Streams: the initial window in the server's SETTINGS. The connection: its own window,
    // which SETTINGS do not set.
    http2Server.updateSettings({ initialWindowSize: RECEIVE_WINDOW });
    http2Server.on('session', (session: http2.ServerHttp2Session) => session.setLocalWindowSize(RECEIVE_WINDOW));
  });
}
