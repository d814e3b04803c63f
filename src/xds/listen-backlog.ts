// Proxies reconnect all at once: after a control-plane restart or a node drain, thousands of them
// connect while the server is still writing the first ones their whole configuration. grpc-js
// listens with Node's default backlog of 511 and has no option for it, so such a storm overflowed
// the kernel's accept queue: with 2,000 proxies, ~3,900 dropped handshakes per sync, SYN cookies,
// and in some runs a few hundred connections reset outright. The server's listening sockets ask for
// a queue as deep as the kernel allows; it caps the request at net.core.somaxconn (4096 on recent
// kernels), which is the knob for larger fleets.
import type * as grpc from '@grpc/grpc-js';

/** What the xDS port asks for; listen() takes the smaller of this and net.core.somaxconn. */
export const LISTEN_BACKLOG = 65535;

interface ListeningServer {
  listen(address: unknown, callback: () => void): unknown;
}

/** The step of grpc-js's Server that creates each listening HTTP/2 server. */
interface Http2ServerFactory {
  createHttp2Server(credentials: unknown): ListeningServer;
}

/**
 * Makes this grpc-js server listen with a deep accept queue. False when grpc-js has no such step
 * (its internals changed): it then listens with Node's default of 511.
 */
export function deepenListenBacklog(server: grpc.Server): boolean {
  const factory = server as unknown as Partial<Http2ServerFactory>;
  const create = factory.createHttp2Server;
  if (typeof create !== 'function') return false;
  factory.createHttp2Server = function (this: Http2ServerFactory, credentials: unknown): ListeningServer {
    const http2Server = create.call(this, credentials);
    const listen = http2Server.listen;
    // grpc-js passes the address as options ({ host, port } or { path }), which also carry the backlog.
    http2Server.listen = function (this: ListeningServer, address: unknown, callback: () => void): unknown {
      const withBacklog = typeof address === 'object' && address !== null ? { ...address, backlog: LISTEN_BACKLOG } : address;
      return listen.call(this, withBacklog, callback);
    };
    return http2Server;
  };
  return true;
}
