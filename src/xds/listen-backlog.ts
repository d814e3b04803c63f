// Proxies reconnect all at once: after a control-plane restart or a node drain, thousands of them
// connect while the server is still writing the first ones their whole configuration. grpc-js
// listens with Node's default backlog of 511 and has no option for it, so such a storm overflowed
// the kernel's accept queue: with 2,000 proxies, ~3,900 dropped handshakes per sync, SYN cookies,
// and in some runs a few hundred connections reset outright. The server's listening sockets ask for
// a queue as deep as the kernel allows; it caps the request at net.core.somaxconn (4096 on recent
// kernels), which is the knob for larger fleets.
import type * as grpc from '@grpc/grpc-js';
import { onEachHttp2Server } from './grpc-http2-servers.js';

/** What the xDS port asks for; listen() takes the smaller of this and net.core.somaxconn. */
export const LISTEN_BACKLOG = 65535;

interface ListeningServer {
  listen(address: unknown, callback: () => void): unknown;
}

/**
 * Makes this grpc-js server listen with a deep accept queue. False when grpc-js has no such step
 * (its internals changed): it then listens with Node's default of 511.
 */
export function deepenListenBacklog(server: grpc.Server): boolean {
  return onEachHttp2Server(server, (created) => {
    const http2Server = created as unknown as ListeningServer;
    const listen = http2Server.listen;
    // grpc-js passes the address as options ({ host, port } or { path }), which also carry the backlog.
    http2Server.listen = function (this: ListeningServer, address: unknown, callback: () => void): unknown {
      const withBacklog = typeof address === 'object' && address !== null ? { ...address, backlog: LISTEN_BACKLOG } : address;
      return listen.call(this, withBacklog, callback);
    };
  });
}
