// Kubernetes manifests for the e2e tests, written as YAML files into the folder Switchyard
// watches. Files are written whole and renamed into place, so the watcher never reads half a file.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { EndpointSliceObject, ServiceObject, TrafficPolicyObject, TrafficPolicySpec } from '../../../src/sources/types.js';

const PORT_NAME = 'grpc';

/** A TCP port on 127.0.0.1 that was free a moment ago (for servers the test starts itself). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The Service `who` (gRPC 9080, targetPort `port`) selecting the pod who-1 at 127.0.0.1: an xDS-enabled server's workload. */
export function whoWorkload(port: number): object[] {
  const who = grpcService('shop', 'who', 9080);
  who.spec = { ...who.spec, clusterIP: '10.96.7.1', ports: [{ ...who.spec.ports![0], targetPort: port }] };
  return [
    who,
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'who-1', namespace: 'shop', labels: { app: 'who' } },
      spec: { containers: [{ name: 'who', ports: [{ name: 'grpc', containerPort: port }] }] },
      status: { podIP: '127.0.0.1' },
    },
  ];
}

/** A Service with one gRPC port. */
export function grpcService(namespace: string, name: string, port: number): ServiceObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { selector: { app: name }, ports: [{ name: PORT_NAME, port, protocol: 'TCP', appProtocol: 'grpc' }] },
  };
}

export interface EndpointSpec {
  address: string;
  ready?: boolean;
  zone?: string;
}

/** One EndpointSlice of `service`: every endpoint listens on `port`. */
export function endpointSlice(
  namespace: string,
  service: string,
  port: number,
  endpoints: EndpointSpec[],
  sliceName = `${service}-e2e`,
): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: sliceName, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: PORT_NAME, port, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.address],
      conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false },
      ...(e.zone ? { zone: e.zone } : {}),
    })),
  };
}

export function trafficPolicy(namespace: string, name: string, spec: TrafficPolicySpec): TrafficPolicyObject {
  return { apiVersion: 'switchyard.dev/v1alpha1', kind: 'TrafficPolicy', metadata: { name, namespace }, spec };
}

/** A temporary manifest folder. */
export class ManifestDir {
  readonly path = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
  private writes = 0;

  /** Writes (or replaces) `<file>.yaml` with these objects as one multi-document file. */
  write(file: string, objects: object[]): void {
    const text = objects.map((o) => stringify(o)).join('---\n');
    // The temporary name is hidden and not .yaml, so the watcher skips it until the rename.
    const temporary = join(this.path, `.${file}.${this.writes++}.tmp`);
    writeFileSync(temporary, text);
    renameSync(temporary, join(this.path, `${file}.yaml`));
  }

  remove(file: string): void {
    rmSync(join(this.path, `${file}.yaml`), { force: true });
  }

  cleanup(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
