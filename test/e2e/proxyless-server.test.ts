// xDS-enabled gRPC servers (gRFC A36) — grpc-js-xds's XdsServer and C-core's through
// python3-grpcio (test/e2e/ccore/server.py) — served by Switchyard: the server asks for
// `grpc/server?xds.resource.listening_address=<ip>:<port>`, which Switchyard builds from the pod
// owning that IP and the Service port whose targetPort is that port. The server starts serving
// only once it has accepted the Listener and its routes, and a call through it succeeds; a port
// that no Service leads to gets no Listener, so that server never starts.
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { XdsServer, XdsServerCredentials } from '@grpc/grpc-js-xds';
import { WHOAMI_SERVICE } from '../../demo/loopback.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { eventually, startHarness, type Harness } from './support/harness.js';
import { freePort, whoWorkload } from './support/manifests.js';
import { proxylessBootstrap, WhoClient } from './support/proxyless-client.js';

const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const NODE = 'e2e-xds-server';
const SERVER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';

function xdsServer(xdsPort: number): XdsServer {
  const bootstrap = {
    ...proxylessBootstrap({ xdsPort, nodeId: NODE }),
    server_listener_resource_name_template: SERVER_TEMPLATE,
  };
  const server = new XdsServer({ [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap) } as grpc.ServerOptions);
  server.addService(WHOAMI_SERVICE, {
    Who: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      callback(null, { backend: 'xds-server' }),
  });
  return server;
}

/** Resolves with the bound port once the server serves; rejects after `ms` if it never does. */
function serving(server: XdsServer, address: string, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${address}: not serving after ${ms} ms`)), ms);
    server.bindAsync(address, new XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (error, port) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(port);
    });
  });
}

describe('grpc-js-xds XdsServer', () => {
  let harness: Harness | undefined;
  const servers: XdsServer[] = [];
  let client: WhoClient | undefined;

  afterAll(async () => {
    client?.close();
    for (const server of servers) server.forceShutdown();
    await harness?.stop();
  });

  test('accepts the Listener for its pod IP and port and serves a call through it; a port no Service leads to gets none', async () => {
    const port = await freePort();
    const unserved = await freePort();
    harness = await startHarness((manifests) => manifests.write('who', whoWorkload(port)));
    const server = xdsServer(harness.switchyard.xdsPort);
    servers.push(server);
    expect(await serving(server, `127.0.0.1:${port}`, 15_000)).toBe(port);
    client = new WhoClient(`127.0.0.1:${port}`);
    expect(await client.who({}, 5000)).toBe('xds-server');

    const stream = harness.switchyard.server.streams().find((s) => s.nodeId === NODE);
    const listeners = stream?.types.find((t) => t.typeUrl === TypeUrl.Listener);
    expect(listeners?.versionAcked).not.toBe('');
    expect(harness.nacks).toEqual([]);

    const idle = xdsServer(harness.switchyard.xdsPort);
    servers.push(idle);
    await expect(serving(idle, `127.0.0.1:${unserved}`, 2_000)).rejects.toThrow('not serving');
  }, 40_000);
});

/** A C-core xDS server process on `address`, with a bootstrap naming Switchyard. */
function ccoreServer(xdsPort: number, nodeId: string, address: string): { child: ChildProcess; started: Promise<void>; stop(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-ccore-server-'));
  const bootstrap = join(dir, 'bootstrap.json');
  writeFileSync(
    bootstrap,
    JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: nodeId, cluster: 'e2e', locality: { zone: 'local' } },
      server_listener_resource_name_template: SERVER_TEMPLATE,
    }),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrap, GRPC_VERBOSITY: process.env.GRPC_VERBOSITY ?? 'ERROR' };
  delete env.PYTHONPATH;
  delete env.PYTHONHOME;
  const child = spawn('/usr/bin/python3', ['-u', join(process.cwd(), 'test', 'e2e', 'ccore', 'server.py'), address], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const errors: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => errors.push(chunk.toString()));
  const started = new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`server.py exited with ${code}: ${errors.join('').slice(-2000)}`)));
  });
  return {
    child,
    started,
    stop() {
      child.stdin?.end();
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('C-core xDS-enabled server (python3-grpcio)', () => {
  let harness: Harness | undefined;
  const stops: Array<() => void> = [];
  const clients: WhoClient[] = [];

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const stop of stops) stop();
    await harness?.stop();
  });

  test('accepts the Listener for its pod IP and port and serves a call through it; a port no Service leads to is refused', async () => {
    const port = await freePort();
    const unserved = await freePort();
    harness = await startHarness((manifests) => manifests.write('who', whoWorkload(port)));
    const server = ccoreServer(harness.switchyard.xdsPort, 'e2e-ccore-server', `127.0.0.1:${port}`);
    stops.push(() => server.stop());
    await server.started;
    const client = new WhoClient(`127.0.0.1:${port}`);
    clients.push(client);
    const answer = await eventually('a call served by the C-core server', () => client.who({}, 1000).catch(() => undefined), 20_000, 200);
    expect(answer).toBe('ccore-server');
    expect(harness.nacks).toEqual([]);

    const idle = ccoreServer(harness.switchyard.xdsPort, 'e2e-ccore-idle', `127.0.0.1:${unserved}`);
    stops.push(() => idle.stop());
    await idle.started;
    const refused = new WhoClient(`127.0.0.1:${unserved}`);
    clients.push(refused);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await expect(refused.who({}, 1000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  }, 60_000);
});
