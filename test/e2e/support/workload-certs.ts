// Workload certificates on disk for the proxyless mutual TLS tests: one mesh CA, and per workload
// a folder with the three files csi-driver-spiffe writes (tls.crt, tls.key, ca.crt), which a gRPC
// bootstrap's `file_watcher` certificate provider reads. `rotate` rewrites a folder with another
// identity, each file replaced whole (written aside, then renamed), as the CSI driver renews.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../../src/security/certificates.js';
import { WORKLOAD_CERTIFICATE_PROVIDER } from '../../../src/clients/index.js';

export const TRUST_DOMAIN = 'cluster.local';

/** The SPIFFE ID of a service account of namespace `shop`. */
export function shopIdentity(serviceAccount: string): string {
  return `spiffe://${TRUST_DOMAIN}/ns/shop/sa/${serviceAccount}`;
}

export class WorkloadCerts {
  readonly root = mkdtempSync(join(tmpdir(), 'switchyard-mtls-'));
  readonly ca: CertificateAuthority = createCertificateAuthority({ trustDomain: TRUST_DOMAIN });
  private writes = 0;

  /** A folder holding a certificate for `spiffeId` (the name is the folder's). */
  issue(name: string, spiffeId: string): string {
    const dir = join(this.root, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    return this.write(name, spiffeId);
  }

  /** Replaces the certificate and key of folder `name` with a new one for `spiffeId`. */
  rotate(name: string, spiffeId: string): void {
    this.write(name, spiffeId);
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private write(name: string, spiffeId: string): string {
    const dir = join(this.root, name);
    const leaf = issueCertificate(this.ca, { spiffeId });
    for (const [file, text] of [
      ['ca.crt', this.ca.cert],
      ['tls.key', leaf.key],
      ['tls.crt', leaf.cert],
    ] as const) {
      const aside = join(this.root, `.${file}.${this.writes++}`);
      writeFileSync(aside, text);
      renameSync(aside, join(dir, file));
    }
    return dir;
  }
}

/**
 * The `certificate_providers` block and node metadata a proxyless bootstrap needs for Switchyard
 * to send it TLS: the `workload` instance (a file_watcher on `dir`, re-read every second so a
 * rotation shows quickly) and `switchyard.dev/certificate-provider: workload`.
 */
export function withCertificateProvider(bootstrap: Record<string, unknown>, dir: string): Record<string, unknown> {
  const node = bootstrap.node as { metadata?: Record<string, string> };
  return {
    ...bootstrap,
    node: { ...node, metadata: { ...node.metadata, 'switchyard.dev/certificate-provider': WORKLOAD_CERTIFICATE_PROVIDER } },
    certificate_providers: {
      [WORKLOAD_CERTIFICATE_PROVIDER]: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: join(dir, 'tls.crt'),
          private_key_file: join(dir, 'tls.key'),
          ca_certificate_file: join(dir, 'ca.crt'),
          refresh_interval: '1s',
        },
      },
    },
  };
}

/** The `who` Service (gRPC 9080 -> `port`), its pod who-1 at 127.0.0.1 (service account `who`, with the certificate provider) and its endpoints. */
export function tlsWhoWorkload(port: number): object[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'who', namespace: 'shop' },
      spec: {
        clusterIP: '10.96.7.1',
        selector: { app: 'who' },
        ports: [{ name: 'grpc', port: 9080, targetPort: port, protocol: 'TCP', appProtocol: 'grpc' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'who-1',
        namespace: 'shop',
        labels: { app: 'who' },
        annotations: { 'switchyard.dev/certificate-provider': WORKLOAD_CERTIFICATE_PROVIDER },
      },
      spec: { serviceAccountName: 'who', containers: [{ name: 'who', ports: [{ name: 'grpc', containerPort: port }] }] },
      status: { podIP: '127.0.0.1' },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'who-e2e', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'who' } },
      addressType: 'IPv4',
      ports: [{ name: 'grpc', port, protocol: 'TCP' }],
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true, serving: true, terminating: false } }],
    },
  ];
}

/** An AccessPolicy on `who`: this mTLS mode, and (when given) callers admitted by service account. */
export function whoAccess(mtls: 'Strict' | 'Permissive', callers?: string[]): object {
  return {
    apiVersion: 'switchyard.dev/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name: 'who-access', namespace: 'shop' },
    spec: {
      targetRef: { kind: 'Service', name: 'who' },
      mtls,
      ...(callers ? { allow: [{ from: { serviceAccounts: callers } }] } : {}),
    },
  };
}
