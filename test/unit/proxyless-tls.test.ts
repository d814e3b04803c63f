// Proxyless mutual TLS (gRFC A29): which nodes are sent TLS naming the `workload` certificate
// provider (only those that declare it and implement A29: anyone else would NACK the instance
// name), and what the translator sends them — clusters and server listeners per mTLS mode.
import { describe, expect, it } from '@jest/globals';
import { meshGroupName, parseMeshGroup } from '../../src/clients/index.js';
import { NodeGroupError, nodeGroup, type NodeInfo } from '../../src/xds/node-group.js';
import { MeshModel } from '../../src/model/index.js';
import { translateAll } from '../../src/translate/index.js';
import type { SourceEvent } from '../../src/sources/types.js';

function node(userAgentName: string, userAgentVersion: string, metadata: Record<string, string> = {}): NodeInfo {
  const fields = Object.fromEntries(Object.entries(metadata).map(([key, value]) => [key, { stringValue: value }]));
  return {
    id: 'n',
    userAgentName,
    userAgentVersion,
    metadata: { fields: { 'switchyard.dev/role': { stringValue: 'proxyless' }, ...fields } },
  };
}

const PROVIDER = { 'switchyard.dev/certificate-provider': 'workload' };

describe('which proxyless nodes get TLS', () => {
  it('a client implementing A29 that declares the workload provider is in a +mtls group; without the key it is not', () => {
    expect(nodeGroup(node('gRPC Node Pure JS', '1.14.1', PROVIDER))).toBe('proxyless+mtls');
    expect(nodeGroup(node('gRPC Node Pure JS', '1.14.1'))).toBe('proxyless');
    expect(nodeGroup(node('gRPC C-core linux Python', 'C-core 29.0.0 Python 1.51.1', PROVIDER))).toBe(
      'proxyless+legacy-header-match+no-ring-hash+mtls',
    );
  });

  it('a client older than its A29 support, or an unknown one, gets no TLS even when it declares the provider', () => {
    expect(nodeGroup(node('gRPC Node Pure JS', '1.12.0', PROVIDER))).toBe('proxyless');
    expect(nodeGroup(node('gRPC Go', '1.40.0', PROVIDER))).not.toMatch(/\+mtls/);
    expect(nodeGroup(node('my-grpc', '1.0', PROVIDER))).not.toMatch(/\+mtls/);
  });

  it('a node naming another instance is refused with the fix', () => {
    expect(() => nodeGroup(node('gRPC Node Pure JS', '1.14.1', { 'switchyard.dev/certificate-provider': 'default' }))).toThrow(
      NodeGroupError,
    );
    expect(() => nodeGroup(node('gRPC Node Pure JS', '1.14.1', { 'switchyard.dev/certificate-provider': 'default' }))).toThrow(
      /call the bootstrap's certificate_providers entry "workload"/,
    );
  });

  it('+mtls parses back for proxyless only', () => {
    const parsed = parseMeshGroup('proxyless+legacy-header-match+mtls');
    expect(parsed?.shape.workloadTls).toBe(true);
    expect(meshGroupName('proxyless', parsed!.shape)).toBe('proxyless+legacy-header-match+mtls');
    expect(parseMeshGroup('sidecar+mtls')).toBeUndefined();
    expect(parseMeshGroup('proxyless+mtls+no-ring-hash')).toBeUndefined();
  });
});

function event(object: Record<string, unknown>): SourceEvent {
  const metadata = object.metadata as { name: string; namespace: string };
  return {
    type: 'upsert',
    ref: { kind: object.kind as string, namespace: metadata.namespace, name: metadata.name },
    object,
  } as unknown as SourceEvent;
}

function pod(name: string, app: string, ip: string, annotations: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app }, annotations },
    spec: { serviceAccountName: app, containers: [{ name: app, ports: [{ containerPort: 50051 }] }] },
    status: { podIP: ip },
  };
}

/** `who` (gRPC, targetPort 50051) over these pods, under this mode. */
function model(mtls: 'Strict' | 'Permissive', pods: Array<Record<string, unknown>>): MeshModel {
  const m = new MeshModel();
  m.apply([
    event({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'who', namespace: 'shop' },
      spec: {
        clusterIP: '10.96.0.9',
        selector: { app: 'who' },
        ports: [{ name: 'grpc', port: 9080, targetPort: 50051, appProtocol: 'grpc' }],
      },
    }),
    ...pods.map(event),
    event({ apiVersion: 'switchyard.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'p', namespace: 'shop' }, spec: { mtls } }),
  ]);
  return m;
}

const MTLS = parseMeshGroup('proxyless+mtls')!.shape;
const PROXYLESS_POD = { 'switchyard.dev/certificate-provider': 'workload' };

function serverListeners(resources: ReturnType<typeof translateAll>) {
  return resources.listeners.filter((l) => l.name.startsWith('grpc/server'));
}

describe('what a proxyless client with the provider is sent', () => {
  it('Strict: TLS to a Service whose pods all have the provider; plain text to one with a pod that has not (it could not answer)', () => {
    const all = translateAll(model('Strict', [pod('who-1', 'who', '10.0.0.1', PROXYLESS_POD)]), 'proxyless', { served: MTLS });
    expect(all.clusters[0].value).toMatchObject({
      transportSocket: { typedConfig: { commonTlsContext: { tlsCertificateProviderInstance: { instanceName: 'workload' } } } },
    });
    const mixed = translateAll(
      model('Strict', [pod('who-1', 'who', '10.0.0.1', PROXYLESS_POD), pod('who-2', 'who', '10.0.0.2', {})]),
      'proxyless',
      { served: MTLS },
    );
    expect(mixed.clusters[0].value).not.toHaveProperty('transportSocket');
    // The pod without the provider gets no server listener under Strict; the other a TLS one.
    expect(serverListeners(mixed).map((l) => l.name)).toEqual(['grpc/server?xds.resource.listening_address=10.0.0.1:50051']);
  });

  it('Permissive: plain text both ways to a proxyless server', () => {
    const all = translateAll(model('Permissive', [pod('who-1', 'who', '10.0.0.1', PROXYLESS_POD)]), 'proxyless', { served: MTLS });
    expect(all.clusters[0].value).not.toHaveProperty('transportSocket');
    const [listener] = serverListeners(all);
    expect((listener.value as { filterChains: object[] }).filterChains[0]).not.toHaveProperty('transportSocket');
  });

  it('a client without the provider is never sent an instance name, and a Strict server without it gets no listener', () => {
    const all = translateAll(model('Strict', [pod('who-1', 'who', '10.0.0.1', PROXYLESS_POD)]), 'proxyless');
    expect(JSON.stringify(all)).not.toContain('workload');
    expect(serverListeners(all)).toEqual([]);
  });
});
