// Switchyard serving a temporary folder of manifests, as `switchyard serve <dir>` does but with
// short settle and debounce times, plus a test xDS client on it: the set-up of the integration
// tests that edit files under a live server and watch what reaches the proxies.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { FilesSource } from '../../src/sources/files.js';
import { TypeUrl } from '../../src/envoy/protos.js';
import { XdsTestClient, testNode, type DecodedDeltaResponse, type DeltaRequestFields, type DeltaTestStream } from './xds-client.js';

export interface FolderApp {
  dir: string;
  app: Switchyard;
  source: FilesSource;
  client: XdsTestClient;
  /** Writes (or overwrites) one manifest file of the folder. */
  write(file: string, content: string): void;
  /** Rewrites one manifest file, replacing `from` with `to` (e.g. an EndpointSlice's address). */
  edit(file: string, from: string, to: string): void;
  /** A delta stream on the client, closed by stop(). */
  delta(): DeltaTestStream;
  /** The group of the node's newest stream (an ended one may still be listed). */
  groupOf(nodeId: string): string | undefined;
  stop(): Promise<void>;
}

/** Starts Switchyard on a new temporary folder holding `files` (name → content). */
export async function startFolderApp(prefix: string, files: Record<string, string> = {}): Promise<FolderApp> {
  const dir = mkdtempSync(path.join(tmpdir(), `switchyard-${prefix}-`));
  for (const [file, content] of Object.entries(files)) writeFileSync(path.join(dir, file), content);
  const source = new FilesSource(dir, { debounceMs: 20, rescanIntervalMs: 200 });
  const app = await startSwitchyard({ sources: [source], xdsPort: 0, adminPort: null, debounce: { quietMs: 10, maxMs: 100 } });
  await app.ready;
  const client = new XdsTestClient(app.xdsPort);
  const streams: DeltaTestStream[] = [];
  return {
    dir,
    app,
    source,
    client,
    write: (file, content) => writeFileSync(path.join(dir, file), content),
    edit: (file, from, to) => {
      const full = path.join(dir, file);
      writeFileSync(full, readFileSync(full, 'utf8').replace(from, to));
    },
    delta: () => {
      const stream = client.delta();
      streams.push(stream);
      return stream;
    },
    groupOf: (nodeId) =>
      app.server
        .streams()
        .filter((s) => s.nodeId === nodeId)
        .at(-1)?.group,
    stop: async () => {
      for (const stream of streams) stream.close();
      client.close();
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SyncedSidecar {
  stream: DeltaTestStream;
  clusters: DecodedDeltaResponse;
  listeners: DecodedDeltaResponse;
}

/**
 * A sidecar as Envoy starts one: its clusters, then its listeners (each ACKed), then the
 * assignments of `eds` when given. `first` adds fields to the first request (e.g. the versions it holds).
 */
export async function syncSidecar(
  folder: FolderApp,
  id: string,
  metadata: Record<string, string>,
  eds: string[] = [],
  first: Partial<DeltaRequestFields> = {},
): Promise<SyncedSidecar> {
  const stream = folder.delta();
  stream.request({ typeUrl: TypeUrl.Cluster, subscribe: ['*'], node: testNode({ id, metadata }), ...first });
  const clusters = await stream.next(TypeUrl.Cluster);
  stream.ack(clusters);
  stream.request({ typeUrl: TypeUrl.Listener, subscribe: ['*'] });
  const listeners = await stream.next(TypeUrl.Listener);
  stream.ack(listeners);
  if (eds.length > 0) {
    stream.request({ typeUrl: TypeUrl.ClusterLoadAssignment, subscribe: eds });
    stream.ack(await stream.next(TypeUrl.ClusterLoadAssignment));
  }
  return { stream, clusters, listeners };
}

/** A Service (HTTP on `port`, pods on 8080) and the EndpointSlice of its one ready endpoint, as manifest YAML. */
export const serviceManifest = (namespace: string, name: string, clusterIP: string, endpoint: string, port = 80) => `
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  clusterIP: ${clusterIP}
  selector: { app: ${name} }
  ports: [{ name: http, port: ${port}, targetPort: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}-1
  namespace: ${namespace}
  labels: { kubernetes.io/service-name: ${name} }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints:
  - addresses: [${endpoint}]
    conditions: { ready: true }
`;

/** A Pod of app `api` in namespace shop serving 8080, with its own egress scope when given, as manifest YAML. */
export const apiPodManifest = (name: string, ip: string, egress?: string) => `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: shop
  labels: { app: api }
${egress === undefined ? '' : `  annotations: { switchyard.dev/egress: "${egress}" }`}
spec:
  containers: [{ name: app, ports: [{ containerPort: 8080 }] }]
status: { podIP: ${ip} }
`;
