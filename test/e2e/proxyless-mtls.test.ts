// Mutual TLS between proxyless gRPC workloads (gRFC A29) with grpc-js-xds on both ends: an
// XdsServer with XdsServerCredentials, clients with XdsChannelCredentials, each with its own
// bootstrap naming the `workload` certificate provider (a file_watcher on a folder of files from
// Switchyard's own CA, as csi-driver-spiffe writes them). The server answers with the caller
// identity it verified, so each test sees what the TLS handshake established, not just that a
// call went through. Under Strict: the right identity is served over mTLS, a wrong one is
// refused by the AccessPolicy's allow rule (RBAC, gRFC A41), plain text is refused, and a
// certificate rotated on disk is used for new connections with no xDS push. Under Permissive:
// the server serves plain text and Switchyard tells its clients to use plain text too.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { XdsChannelCredentials, XdsServer, XdsServerCredentials } from '@grpc/grpc-js-xds';
import { WHOAMI_SERVICE } from '../../demo/loopback.js';
import { eventually, startHarness, type Harness } from './support/harness.js';
import { freePort } from './support/manifests.js';
import { bootstrapOption, proxylessBootstrap, serviceTarget, WhoClient } from './support/proxyless-client.js';
import { shopIdentity, tlsWhoWorkload, whoAccess, withCertificateProvider, WorkloadCerts } from './support/workload-certs.js';

const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const SERVER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';
const TARGET = serviceTarget('who', 'shop', 9080);

/** What the server answers: the URI SAN of the client certificate it verified, or `plaintext`. */
function callerOf(call: grpc.ServerUnaryCall<unknown, unknown>): string {
  const peer = call.getAuthContext().sslPeerCertificate;
  const uri = peer?.subjectaltname?.split(', ').find((entry) => entry.startsWith('URI:'));
  return uri ? uri.slice('URI:'.length) : 'plaintext';
}

describe('proxyless gRPC mutual TLS (grpc-js-xds client and server)', () => {
  let harness: Harness;
  let certs: WorkloadCerts;
  let server: XdsServer;
  let port: number;
  const clients: WhoClient[] = [];
  /** xDS responses Switchyard has sent, over all streams. */
  let responses = 0;

  /** A proxyless client of `who` with the certificate folder `certDir` (none: a bootstrap without certificate provider). */
  function xdsClient(nodeId: string, certDir?: string): WhoClient {
    const plain = proxylessBootstrap({ xdsPort: harness.switchyard.xdsPort, nodeId });
    const bootstrap = certDir ? withCertificateProvider(plain, certDir) : plain;
    const client = new WhoClient(TARGET, bootstrapOption(bootstrap), new XdsChannelCredentials(grpc.credentials.createInsecure()));
    clients.push(client);
    return client;
  }

  function plainClient(): WhoClient {
    const client = new WhoClient(`127.0.0.1:${port}`);
    clients.push(client);
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
    const serverDir = certs.issue('who', shopIdentity('who'));
    const bootstrap = {
      ...withCertificateProvider(proxylessBootstrap({ xdsPort: harness.switchyard.xdsPort, nodeId: 'e2e-mtls-server' }), serverDir),
      server_listener_resource_name_template: SERVER_TEMPLATE,
    };
    // Connections live at most a second, so new handshakes (with rotated certificates) happen while the test polls.
    server = new XdsServer({
      [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap),
      'grpc.max_connection_age_ms': 1000,
      'grpc.max_connection_age_grace_ms': 1000,
    } as grpc.ServerOptions);
    server.addService(WHOAMI_SERVICE, {
      Who: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        callback(null, { backend: callerOf(call) }),
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server not serving; NACKs: ${JSON.stringify(harness.nacks)}`)), 20_000);
      server.bindAsync(`127.0.0.1:${port}`, new XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      });
    });
  }, 40_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    server?.forceShutdown();
    await harness?.stop();
    certs?.cleanup();
  });

  test('Strict: the admitted identity is served over mutual TLS; another identity is refused by RBAC; plain text is refused', async () => {
    const frontend = xdsClient('e2e-mtls-frontend', certs.issue('frontend', shopIdentity('frontend')));
    const answer = await eventually('the frontend served', () => frontend.who({}, 1000).catch(() => undefined), 20_000, 200);
    // The server verified the client's certificate: the call arrived over mutual TLS.
    expect(answer).toBe(shopIdentity('frontend'));

    const intruder = xdsClient('e2e-mtls-intruder', certs.issue('intruder', shopIdentity('intruder')));
    const refused = await eventually(
      'the intruder refused by RBAC',
      () =>
        intruder.who({}, 1000).then(
          (backend) => Promise.reject(new Error(`served as ${backend}`)),
          (error: grpc.ServiceError) => (error.code === grpc.status.PERMISSION_DENIED ? error : undefined),
        ),
      20_000,
      200,
    );
    expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);

    // Plain text to the port: the server's only chain is TLS.
    await expect(plainClient().who({}, 2000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    // A proxyless client without the certificate provider is sent no TLS (it would NACK the
    // instance name) and so is refused too, in plain text.
    const noProvider = xdsClient('e2e-mtls-no-provider');
    const unavailable = await eventually(
      'the client without certificate provider refused',
      () =>
        noProvider.who({}, 1000).then(
          (backend) => Promise.reject(new Error(`served as ${backend}`)),
          (error: grpc.ServiceError) => (error.code === grpc.status.UNAVAILABLE ? error : undefined),
        ),
      20_000,
      200,
    );
    expect(unavailable.code).toBe(grpc.status.UNAVAILABLE);

    expect(groupOf('e2e-mtls-frontend')).toBe('proxyless+mtls');
    expect(groupOf('e2e-mtls-server')).toBe('proxyless+mtls');
    expect(groupOf('e2e-mtls-no-provider')).toBe('proxyless');
    expect(harness.nacks).toEqual([]);
  }, 60_000);

  test('a client certificate rotated on disk is used for new connections, without any xDS push', async () => {
    const dir = certs.issue('rotating', shopIdentity('frontend'));
    const client = xdsClient('e2e-mtls-rotating', dir);
    await eventually('the rotating client served', () => client.who({}, 1000).catch(() => undefined), 20_000, 200);
    // Every stream has had its answers; from here on no response may be sent.
    await eventually('the xDS exchanges to settle', async () => {
      const before = responses;
      await new Promise((resolve) => setTimeout(resolve, 500));
      return responses === before ? true : undefined;
    });
    const pushed = responses;

    certs.rotate('rotating', shopIdentity('intruder'));
    await eventually(
      'calls to follow the rotated (not admitted) identity',
      () =>
        client.who({}, 1000).then(
          () => undefined,
          (error: grpc.ServiceError) => (error.code === grpc.status.PERMISSION_DENIED ? true : undefined),
        ),
      20_000,
      200,
    );
    certs.rotate('rotating', shopIdentity('frontend'));
    const back = await eventually('calls to follow the file back', () => client.who({}, 1000).catch(() => undefined), 20_000, 200);
    expect(back).toBe(shopIdentity('frontend'));
    expect(responses).toBe(pushed);
    expect(harness.nacks).toEqual([]);
  }, 60_000);

  test('Permissive: the server serves plain text, and its proxyless clients are told to use plain text', async () => {
    const frontend = xdsClient('e2e-permissive-frontend', certs.issue('frontend-2', shopIdentity('frontend')));
    await eventually('the frontend served', () => frontend.who({}, 1000).catch(() => undefined), 20_000, 200);
    await harness.edit(() => harness.manifests.write('who', [...tlsWhoWorkload(port), whoAccess('Permissive')]));

    const plain = plainClient();
    const answer = await eventually('a plain-text call served', () => plain.who({}, 1000).catch(() => undefined), 20_000, 200);
    expect(answer).toBe('plaintext');
    // The mTLS-capable client now gets a plain cluster: it reaches the plain-text server.
    const again = await eventually(
      'the frontend served in plain text',
      () => frontend.who({}, 1000).then((caller) => (caller === 'plaintext' ? caller : undefined)),
      20_000,
      200,
    );
    expect(again).toBe('plaintext');
    expect(harness.nacks).toEqual([]);
  }, 60_000);
});
