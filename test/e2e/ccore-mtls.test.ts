// Mutual TLS between proxyless gRPC workloads (gRFC A29) with gRPC C-core 1.51 (Debian's
// python3-grpcio) on both ends: an xDS-enabled server with grpc.xds_server_credentials
// (test/e2e/ccore/tls_server.py) and clients with grpc.xds_channel_credentials
// (test/e2e/ccore/client.py), each reading a bootstrap (GRPC_XDS_BOOTSTRAP) with the `workload`
// file_watcher certificate provider over files from Switchyard's own CA. The server answers with
// the SPIFFE ID it verified. The same cases as the grpc-js-xds test: under Strict the admitted
// identity is served over mutual TLS, another is refused by RBAC (gRFC A41), plain text is
// refused, a certificate rotated on disk is used with no xDS push; under Permissive plain text is
// served and clients are told to use it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CcoreClient } from './support/ccore-client.js';
import { eventually, startHarness, type Harness } from './support/harness.js';
import { freePort } from './support/manifests.js';
import { serviceTarget, WhoClient } from './support/proxyless-client.js';
import { shopIdentity, tlsWhoWorkload, whoAccess, withCertificateProvider, WorkloadCerts } from './support/workload-certs.js';

const SERVER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';
const TARGET = serviceTarget('who', 'shop', 9080);
/** C-core 1.51 (Python) is served the legacy header matchers and no ring hash, and with its certificate provider, TLS. */
const CCORE_MTLS_GROUP = 'proxyless+legacy-header-match+no-ring-hash+mtls';

/** A C-core xDS server process (tls_server.py) on `address`, its bootstrap with the certificate provider over `certDir`. */
function ccoreTlsServer(xdsPort: number, nodeId: string, address: string, certDir: string): { started: Promise<void>; stop(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-ccore-tls-server-'));
  const bootstrap = join(dir, 'bootstrap.json');
  const base = {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, cluster: 'e2e', locality: { zone: 'local' } },
    server_listener_resource_name_template: SERVER_TEMPLATE,
  };
  writeFileSync(bootstrap, JSON.stringify(withCertificateProvider(base, certDir)));
  const env: NodeJS.ProcessEnv = { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrap, GRPC_VERBOSITY: process.env.GRPC_VERBOSITY ?? 'ERROR' };
  delete env.PYTHONPATH;
  delete env.PYTHONHOME;
  const child: ChildProcess = spawn('/usr/bin/python3', ['-u', join(process.cwd(), 'test', 'e2e', 'ccore', 'tls_server.py'), address], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const started = new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`tls_server.py exited with ${code}: ${stderr}`)));
  });
  return {
    started,
    stop() {
      child.stdin?.end();
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The outcome of one C-core call: the caller the server saw, or `error:<CODE>`. */
async function outcome(client: CcoreClient): Promise<string> {
  const [result] = await client.calls(TARGET, [{}], { timeoutSeconds: 2 });
  return 'backend' in result ? result.backend : `error:${result.code}`;
}

describe('proxyless gRPC mutual TLS (gRPC C-core 1.51 client and server)', () => {
  let harness: Harness;
  let certs: WorkloadCerts;
  let port: number;
  const stops: Array<() => void> = [];
  const ccoreClients: CcoreClient[] = [];
  const plainClients: WhoClient[] = [];
  let responses = 0;

  async function ccoreClient(nodeId: string, certDir: string): Promise<CcoreClient> {
    const client = await CcoreClient.start(harness.switchyard.xdsPort, nodeId, {
      bootstrap: (bootstrap) => withCertificateProvider(bootstrap, certDir),
      xdsCredentials: true,
    });
    ccoreClients.push(client);
    return client;
  }

  function plainClient(): WhoClient {
    const client = new WhoClient(`127.0.0.1:${port}`);
    plainClients.push(client);
    return client;
  }

  function groupOf(nodeId: string): string | undefined {
    return harness.switchyard.server.streams().find((s) => s.nodeId === nodeId)?.group;
  }

  beforeAll(async () => {
    port = await freePort();
    certs = new WorkloadCerts();
    harness = await startHarness((dir) => dir.write('who', [...tlsWhoWorkload(port), whoAccess('Strict', ['frontend'])]));
    harness.switchyard.server.on('responseSent', () => responses++);
    const server = ccoreTlsServer(
      harness.switchyard.xdsPort,
      'e2e-ccore-tls-server',
      `127.0.0.1:${port}`,
      certs.issue('who', shopIdentity('who')),
    );
    stops.push(() => server.stop());
    await server.started;
  }, 40_000);

  afterAll(async () => {
    for (const client of plainClients) client.close();
    await Promise.all(ccoreClients.map((client) => client.close()));
    for (const stop of stops) stop();
    await harness?.stop();
    certs?.cleanup();
  });

  test('Strict: the admitted identity is served over mutual TLS; another identity is refused by RBAC; plain text is refused', async () => {
    const frontend = await ccoreClient('e2e-ccore-frontend', certs.issue('frontend', shopIdentity('frontend')));
    const served = await eventually(
      'the frontend served',
      async () => {
        const caller = await outcome(frontend);
        return caller.startsWith('error:') ? undefined : caller;
      },
      30_000,
      200,
    );
    expect(served).toBe(shopIdentity('frontend'));

    const intruder = await ccoreClient('e2e-ccore-intruder', certs.issue('intruder', shopIdentity('intruder')));
    const refused = await eventually(
      'the intruder refused by RBAC',
      async () => ((await outcome(intruder)) === 'error:PERMISSION_DENIED' ? true : undefined),
      30_000,
      200,
    );
    expect(refused).toBe(true);

    await expect(plainClient().who({}, 2000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(groupOf('e2e-ccore-frontend')).toBe(CCORE_MTLS_GROUP);
    expect(groupOf('e2e-ccore-tls-server')).toBe(CCORE_MTLS_GROUP);
    expect(harness.nacks).toEqual([]);
  }, 90_000);

  test('a client certificate rotated on disk is used for new connections, without any xDS push', async () => {
    const dir = certs.issue('rotating', shopIdentity('frontend'));
    const client = await ccoreClient('e2e-ccore-rotating', dir);
    await eventually(
      'the rotating client served',
      async () => ((await outcome(client)) === shopIdentity('frontend') ? true : undefined),
      30_000,
      200,
    );
    await eventually('the xDS exchanges to settle', async () => {
      const before = responses;
      await new Promise((resolve) => setTimeout(resolve, 500));
      return responses === before ? true : undefined;
    });
    const pushed = responses;

    certs.rotate('rotating', shopIdentity('intruder'));
    await eventually(
      'calls to follow the rotated (not admitted) identity',
      async () => ((await outcome(client)) === 'error:PERMISSION_DENIED' ? true : undefined),
      30_000,
      200,
    );
    certs.rotate('rotating', shopIdentity('frontend'));
    await eventually(
      'calls to follow the file back',
      async () => ((await outcome(client)) === shopIdentity('frontend') ? true : undefined),
      30_000,
      200,
    );
    expect(responses).toBe(pushed);
    expect(harness.nacks).toEqual([]);
  }, 90_000);

  test('Permissive: the server serves plain text, and its proxyless clients are told to use plain text', async () => {
    const frontend = await ccoreClient('e2e-ccore-permissive', certs.issue('frontend-2', shopIdentity('frontend')));
    await eventually(
      'the frontend served',
      async () => ((await outcome(frontend)) === shopIdentity('frontend') ? true : undefined),
      30_000,
      200,
    );
    await harness.edit(() => harness.manifests.write('who', [...tlsWhoWorkload(port), whoAccess('Permissive')]));

    const plain = plainClient();
    expect(await eventually('a plain-text call served', () => plain.who({}, 1000).catch(() => undefined), 30_000, 200)).toBe('plaintext');
    expect(
      await eventually(
        'the frontend in plain text',
        async () => ((await outcome(frontend)) === 'plaintext' ? true : undefined),
        30_000,
        200,
      ),
    ).toBe(true);
    expect(harness.nacks).toEqual([]);
  }, 90_000);
});
