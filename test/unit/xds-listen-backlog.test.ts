import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ResourceCache } from '../../src/cache/cache.js';
import { deepenListenBacklog, LISTEN_BACKLOG } from '../../src/xds/listen-backlog.js';
import { XdsServer } from '../../src/xds/server.js';

/** The accept queue the kernel gave the socket listening on this port (ss shows it as Send-Q). */
function listenBacklogOf(port: number): number {
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' })
    .trim()
    .split('\n')[0];
  const columns = line.split(/\s+/); // State Recv-Q Send-Q Local Peer
  return Number(columns[2]);
}

function bind(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

describe('listen backlog', () => {
  it('is as deep as the kernel allows, where grpc-js alone asks for 511', async () => {
    const plain = new grpc.Server();
    const deep = new grpc.Server();
    expect(deepenListenBacklog(deep)).toBe(true);
    try {
      expect(listenBacklogOf(await bind(plain))).toBe(Math.min(511, somaxconn));
      expect(listenBacklogOf(await bind(deep))).toBe(Math.min(LISTEN_BACKLOG, somaxconn));
    } finally {
      plain.forceShutdown();
      deep.forceShutdown();
    }
  });

  it("is the xDS server's", async () => {
    const server = new XdsServer({ cache: new ResourceCache() });
    const port = await server.start(0);
    try {
      expect(listenBacklogOf(port)).toBe(Math.min(LISTEN_BACKLOG, somaxconn));
    } finally {
      await server.shutdown();
    }
  });
});
