// The server pings each connection and drops one whose ping goes unanswered: a proxy whose host
// vanished sends no FIN, and its streams would otherwise be kept (and pushed to) forever. grpc-js
// can do this too, but it times each connection's pings from the connection's start, and a fleet
// connects within seconds (a restart, a failover). Its 2,000 pings then all fell in the same
// second of every interval: a minute at rest that held them cost 1.5% of a core, one that did not
// 0.2%. Here each connection's first ping comes at a random point of its first interval, so the
// pings of a fleet spread evenly over time and every minute costs the same.
import type * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import { onEachHttp2Server } from './grpc-http2-servers.js';

export interface KeepaliveSettings {
  /** How often a connection is pinged. */
  intervalMs: number;
  /** How long a ping may go unanswered before its connection is dropped. */
  timeoutMs: number;
}

/** Pings every connection this grpc-js server accepts from now on. False when grpc-js has no step to
 * reach its connections (its internals changed). */
export function keepConnectionsAlive(server: grpc.Server, settings: KeepaliveSettings, random: () => number = Math.random): boolean {
  return onEachHttp2Server(server, (http2Server) =>
    http2Server.on('session', (session: http2.ServerHttp2Session) => pingUntilClosed(session, settings, random)),
  );
}

function pingUntilClosed(session: http2.ServerHttp2Session, { intervalMs, timeoutMs }: KeepaliveSettings, random: () => number): void {
  let timer: NodeJS.Timeout | undefined;
  const after = (ms: number, then: () => void): void => {
    timer = setTimeout(then, ms);
    timer.unref();
  };
  const ping = (): void => {
    if (session.destroyed || session.closed) return;
    let sent = false;
    try {
      sent = session.ping((err) => {
        clearTimeout(timer);
        if (err) session.destroy();
        else after(intervalMs, ping);
      });
    } catch {
      // Node throws when the session is past sending (closing, or too many pings outstanding).
    }
    if (!sent) session.destroy();
    else after(timeoutMs, () => session.destroy());
  };
  // Anywhere in [0.5, 1.5) intervals: over a fleet that connected at once, every phase alike.
  after(intervalMs * (0.5 + random()), ping);
  session.once('close', () => clearTimeout(timer));
}
