// Envoy itself, when this machine has it: a sidecar started with envoy/sidecar.yaml (pointed at
// this Switchyard and at free loopback ports) routes gRPC calls by authority through its
// virtual outbound listener, with the canary split Switchyard serves. Without capture rules
// (they need root), the Service's cluster IP is 127.0.0.1 and its port the listener's: a direct
// connection then has the destination a captured one would have, and takes the Service's chain. Envoy cannot be installed here, so
// without an `envoy` binary on PATH the test is skipped, and its name says why.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { decodeMessage, encodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { fromProto3Json } from '../../src/envoy/proto-json.js';
import { startBackends, type BackendSet } from './support/backends.js';
import { checkSplit } from './support/binomial.js';
import { eventually, startHarness, type Harness } from './support/harness.js';
import { endpointSlice, freePort, grpcService, trafficPolicy } from './support/manifests.js';
import { WhoClient } from './support/proxyless-client.js';

const SIDECAR_BOOTSTRAP = join(process.cwd(), 'envoy', 'sidecar.yaml');

function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const envoyBinary = findOnPath('envoy');
const skipReason = !envoyBinary ? 'no envoy binary on PATH' : !existsSync(SIDECAR_BOOTSTRAP) ? 'envoy/sidecar.yaml is missing' : undefined;
const envoyTest = skipReason ? test.skip : test;
// Say it in the run's output too: Jest lists skipped tests' names only with --verbose.
if (skipReason) process.stderr.write(`envoy-sidecar: the Envoy test is skipped: ${skipReason}\n`);

type Bootstrap = {
  node: { id: string };
  admin: { address: { socket_address: { address: string; port_value: number } } };
  static_resources: {
    listeners: Array<{ address: { socket_address: { address: string; port_value: number } } }>;
    clusters: Array<{
      name: string;
      load_assignment: {
        endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string; port_value: number } } } }> }>;
      };
    }>;
  };
};

/** envoy/sidecar.yaml with everything on loopback: the xDS cluster at this Switchyard, admin and the probe listener on free ports. */
function loopbackBootstrap(xdsPort: number, adminPort: number, healthPort: number, nodeId: string): Bootstrap {
  const bootstrap = parse(readFileSync(SIDECAR_BOOTSTRAP, 'utf8')) as Bootstrap;
  bootstrap.node.id = nodeId;
  bootstrap.admin.address.socket_address = { address: '127.0.0.1', port_value: adminPort };
  for (const listener of bootstrap.static_resources.listeners)
    listener.address.socket_address = { address: '127.0.0.1', port_value: healthPort };
  for (const cluster of bootstrap.static_resources.clusters) {
    // The test's Switchyard serves plain text on loopback; the shipped bootstrap speaks mutual TLS.
    delete (cluster as { transport_socket?: unknown }).transport_socket;
    for (const locality of cluster.load_assignment.endpoints) {
      for (const lbEndpoint of locality.lb_endpoints) {
        const socket = lbEndpoint.endpoint.address.socket_address;
        if (cluster.name === 'envoy_admin') socket.port_value = adminPort;
        else socket.address = '127.0.0.1';
        if (cluster.name !== 'envoy_admin') socket.port_value = xdsPort;
      }
    }
  }
  return bootstrap;
}

describe('the sidecar bootstrap on loopback', () => {
  test('is still a valid Envoy Bootstrap, aimed at this Switchyard and at loopback ports only', () => {
    const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
    const copy = loopbackBootstrap(18123, 19123, 19124, 'e2e-node');
    const decoded = decodeMessage(BOOTSTRAP, encodeMessage(BOOTSTRAP, fromProto3Json(BOOTSTRAP, copy))) as unknown as {
      admin: { address: { socketAddress: unknown } };
      staticResources: {
        clusters: Array<{
          name: string;
          loadAssignment: { endpoints: Array<{ lbEndpoints: Array<{ endpoint: { address: { socketAddress: unknown } } }> }> };
        }>;
      };
    };
    expect(decoded.admin.address.socketAddress).toEqual({ address: '127.0.0.1', portValue: 19123 });
    const xds = decoded.staticResources.clusters.find((c) => c.name === 'xds_cluster');
    expect(xds?.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress).toEqual({
      address: '127.0.0.1',
      portValue: 18123,
    });
  });
});

describe(skipReason ? `Envoy sidecar (skipped: ${skipReason})` : 'Envoy sidecar', () => {
  let backends: BackendSet | undefined;
  let harness: Harness | undefined;
  let envoy: ChildProcess | undefined;
  let workDir: string | undefined;
  let client: WhoClient | undefined;

  afterAll(async () => {
    client?.close();
    if (envoy && envoy.exitCode === null) {
      const exited = new Promise((resolve) => envoy!.once('exit', resolve));
      envoy.kill('SIGTERM');
      await exited;
    }
    await harness?.stop();
    await backends?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  envoyTest('routes gRPC calls through its outbound listener with the served 90/10 split, and ACKs everything', async () => {
    backends = await startBackends(['reviews-v1', 'reviews-v2']);
    const outboundPort = await freePort();
    const nodeId = `e2e-envoy-${process.pid}`;
    const set = backends;
    harness = await startHarness(
      (manifests) => {
        for (const version of ['reviews-v1', 'reviews-v2']) {
          manifests.write(version, [
            grpcService('shop', version, outboundPort),
            endpointSlice('shop', version, set.port, [{ address: set.get(version).address, zone: 'zone-a' }]),
          ]);
        }
        const reviews = grpcService('shop', 'reviews', outboundPort);
        reviews.spec = { ...reviews.spec, clusterIP: '127.0.0.1' };
        manifests.write('reviews', [
          reviews,
          endpointSlice(
            'shop',
            'reviews',
            set.port,
            ['reviews-v1', 'reviews-v2'].map((v) => ({ address: set.get(v).address, zone: 'zone-a' })),
          ),
          trafficPolicy('shop', 'reviews-canary', {
            targetRef: { kind: 'Service', name: 'reviews' },
            split: [
              { backend: 'reviews-v1', weight: 90 },
              { backend: 'reviews-v2', weight: 10 },
            ],
          }),
        ]);
      },
      { translate: { outboundPort } },
    );

    workDir = mkdtempSync(join(tmpdir(), 'switchyard-envoy-'));
    const adminPort = await freePort();
    const bootstrapFile = join(workDir, 'sidecar.json');
    writeFileSync(bootstrapFile, JSON.stringify(loopbackBootstrap(harness.switchyard.xdsPort, adminPort, await freePort(), nodeId)));
    const output: string[] = [];
    envoy = spawn(envoyBinary!, ['-c', bootstrapFile, '--base-id', String(10_000 + (process.pid % 50_000)), '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    envoy.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    envoy.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));

    // Envoy is ready once its initial clusters and listeners have warmed from ADS.
    const readiness = await eventually(
      'Envoy to be ready',
      async () => {
        if (envoy!.exitCode !== null) return 'exited';
        const response = await fetch(`http://127.0.0.1:${adminPort}/ready`).catch(() => undefined);
        return response?.status === 200 ? 'ready' : undefined;
      },
      20_000,
      200,
    );
    if (readiness === 'exited') throw new Error(`envoy exited with ${envoy.exitCode}: ${output.join('').slice(-2000)}`);

    client = new WhoClient(`127.0.0.1:${outboundPort}`, { 'grpc.default_authority': `reviews.shop.svc.cluster.local:${outboundPort}` });
    await eventually('a call through Envoy', () => client!.who({}, 1000));
    const n = 400;
    const counts = await client.tally(n);
    const result = checkSplit(counts, n, { 'reviews-v1': 0.9, 'reviews-v2': 0.1 });
    expect({ ok: result.ok, report: result.report }).toEqual({ ok: true, report: result.report });

    const stream = harness.switchyard.server.streams().find((s) => s.nodeId === nodeId);
    expect(stream?.group).toBe('sidecar');
    expect(harness.nacks.filter((e) => e.nodeId === nodeId)).toEqual([]);
    for (const typeUrl of [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration]) {
      const state = stream?.types.find((t) => t.typeUrl === typeUrl);
      expect({ typeUrl, acked: state !== undefined && state.versionAcked !== '' && state.versionAcked === state.versionSent }).toEqual({
        typeUrl,
        acked: true,
      });
    }
  });
});
