// An AccessPolicy's allow rules on a real xDS-enabled gRPC server: grpc-js-xds's XdsServer
// receives its gRFC A36 Listener from Switchyard with the gRFC A41 RBAC filter before the router,
// refuses a call no rule admits with PERMISSION_DENIED, and serves it once an updated policy
// admits it — no restart. grpc-js-xds (this version) reads RBAC only with
// GRPC_XDS_EXPERIMENTAL_RBAC=true, set before it loads (jest.config.js sets it for the suite);
// without it, it NACKs such a Listener.
import { afterAll, describe, expect, test } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { XdsServer, XdsServerCredentials } from '@grpc/grpc-js-xds';
import { WHO_METHOD, WHOAMI_SERVICE } from '../../demo/loopback.js';
import { eventually, startHarness, type Harness } from './support/harness.js';
import { freePort, whoWorkload } from './support/manifests.js';
import { proxylessBootstrap, WhoClient } from './support/proxyless-client.js';

const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const NODE = 'e2e-xds-rbac-server';

/** The `who` workload and an AccessPolicy admitting these method paths. */
function manifests(port: number, admitted: string[]): object[] {
  return [
    ...whoWorkload(port),
    {
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'AccessPolicy',
      metadata: { name: 'who-callers', namespace: 'shop' },
      spec: { targetRef: { kind: 'Service', name: 'who' }, allow: [{ to: { paths: admitted.map((exact) => ({ exact })) } }] },
    },
  ];
}

describe('grpc-js-xds XdsServer under an AccessPolicy (gRFC A41 RBAC)', () => {
  let harness: Harness | undefined;
  let server: XdsServer | undefined;
  let client: WhoClient | undefined;

  afterAll(async () => {
    client?.close();
    server?.forceShutdown();
    await harness?.stop();
  });

  test('a call no allow rule admits is refused with PERMISSION_DENIED; once a rule admits it, it is served', async () => {
    const port = await freePort();
    harness = await startHarness((dir) => dir.write('who', manifests(port, ['/switchyard.demo.Whoami/Other'])));
    const bootstrap = {
      ...proxylessBootstrap({ xdsPort: harness.switchyard.xdsPort, nodeId: NODE }),
      server_listener_resource_name_template: 'grpc/server?xds.resource.listening_address=%s',
    };
    server = new XdsServer({ [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap) } as grpc.ServerOptions);
    server.addService(WHOAMI_SERVICE, {
      Who: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        callback(null, { backend: 'xds-server' }),
    });
    const bound = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not serving; NACKs: ${JSON.stringify(harness!.nacks)}`)), 15_000);
      server!.bindAsync(`127.0.0.1:${port}`, new XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (error, p) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(p);
      });
    });
    expect(bound).toBe(port);
    client = new WhoClient(`127.0.0.1:${port}`);
    await expect(client.who({}, 5000)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });

    harness.manifests.write('who', manifests(port, [WHO_METHOD]));
    const answer = await eventually('the call admitted', () => client!.who({}, 1000).catch(() => undefined), 15_000, 200);
    expect(answer).toBe('xds-server');
    expect(harness.nacks).toEqual([]);
  }, 40_000);
});
