// grpc-js creates the HTTP/2 server behind each port it binds and exposes few of its settings.
// The xDS port needs some it has no option for (its accept queue, its receive windows): this
// reaches the step of grpc-js's Server that creates each of those servers.
import type * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';

interface Http2ServerFactory {
  createHttp2Server(credentials: unknown): http2.Http2Server;
}

/**
 * Runs `adjust` on each HTTP/2 server this grpc-js server creates from now on, before it listens.
 * False when grpc-js has no such step (its internals changed).
 */
export function onEachHttp2Server(server: grpc.Server, adjust: (http2Server: http2.Http2Server) => void): boolean {
  const factory = server as unknown as Partial<Http2ServerFactory>;
  const create = factory.createHttp2Server;
  if (typeof create !== 'function') return false;
  factory.createHttp2Server = function (this: Http2ServerFactory, credentials: unknown): http2.Http2Server {
    const http2Server = create.call(this, credentials);
    adjust(http2Server);
    return http2Server;
  };
  return true;
}
