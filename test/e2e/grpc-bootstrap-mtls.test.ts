// envoy/proxyless-bootstrap-mtls.json, the gRPC bootstrap (GRPC_XDS_BOOTSTRAP) for the secure
// deployment: mutual TLS to the control plane (gRFC A65 `tls` channel creds) and the workload
// certificate for the data plane as a `file_watcher` certificate provider (gRFC A29), both from
// the files csi-driver-spiffe writes. Read by the real clients this machine has: grpc-js-xds's
// bootstrap validator and gRPC C-core 1.51 through Debian's python3-grpcio. Neither release has
// A65 yet, so the test also proves they refuse the bootstrap rather than fall back to plain text.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
// grpc-js-xds's own bootstrap checks, as its XdsClient runs them on GRPC_XDS_BOOTSTRAP.
import { validateBootstrapConfig } from '@grpc/grpc-js-xds/build/src/xds-bootstrap.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { createCertificateAuthority, issueCertificate } from '../../src/security/certificates.js';
import type { StreamIdentity } from '../../src/xds/events.js';
import { XdsServer } from '../../src/xds/server.js';

const FILE = path.join(process.cwd(), 'envoy', 'proxyless-bootstrap-mtls.json');
const WORKLOAD_DIR = '/var/run/secrets/spiffe.io';
const SYSTEM_PYTHON = '/usr/bin/python3';

type Bootstrap = {
  xds_servers: Array<{ server_uri: string; channel_creds: Array<{ type: string; config?: Record<string, string> }> }>;
  node: { id: string; metadata: Record<string, string> };
  certificate_providers: Record<string, { plugin_name: string; config: Record<string, string> }>;
};

/** C-core reads GRPC_XDS_BOOTSTRAP when an xds: channel is made; the script waits for the channel and says how it went. */
const CCORE_SCRIPT = `
import grpc, sys
channel = grpc.insecure_channel("xds:///reviews.shop.svc.cluster.local:9080")
try:
    grpc.channel_ready_future(channel).result(timeout=2)
    print("ready")
except grpc.FutureTimeoutError:
    print("not ready")
`;

function runCcore(bootstrapFile: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrapFile, GRPC_VERBOSITY: 'ERROR' };
    delete env.PYTHONPATH;
    delete env.PYTHONHOME;
    const child = spawn(SYSTEM_PYTHON, ['-c', CCORE_SCRIPT], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', () => resolve({ stdout, stderr }));
  });
}

describe('envoy/proxyless-bootstrap-mtls.json', () => {
  const bootstrap = JSON.parse(readFileSync(FILE, 'utf8')) as Bootstrap;
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-grpc-bootstrap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The bootstrap with the csi-driver-spiffe paths pointed at `switchyard ca` files, and the server at `port`. */
  function localCopy(port: number, channelCreds?: Bootstrap['xds_servers'][0]['channel_creds']): string {
    const ca = createCertificateAuthority({ trustDomain: 'cluster.local' });
    const workload = issueCertificate(ca, { spiffeId: 'spiffe://cluster.local/ns/shop/sa/reviews' });
    writeFileSync(path.join(dir, 'ca.crt'), ca.cert);
    writeFileSync(path.join(dir, 'tls.crt'), workload.cert);
    writeFileSync(path.join(dir, 'tls.key'), workload.key);
    const text = JSON.stringify(bootstrap)
      .replaceAll(WORKLOAD_DIR, dir)
      .replace('switchyard.switchyard-system.svc:18000', `127.0.0.1:${port}`);
    const copy = JSON.parse(text) as Bootstrap;
    if (channelCreds) copy.xds_servers[0].channel_creds = channelCreds;
    const file = path.join(dir, `bootstrap-${channelCreds ? 'insecure' : 'tls'}.json`);
    writeFileSync(file, JSON.stringify(copy));
    return file;
  }

  it('reads the workload certificate the CSI driver writes, for the control plane and the data plane alike', () => {
    const files = {
      ca_certificate_file: `${WORKLOAD_DIR}/ca.crt`,
      certificate_file: `${WORKLOAD_DIR}/tls.crt`,
      private_key_file: `${WORKLOAD_DIR}/tls.key`,
    };
    expect(bootstrap.xds_servers[0].channel_creds).toEqual([{ type: 'tls', config: { ...files, refresh_interval: '600s' } }]);
    expect(bootstrap.certificate_providers).toEqual({
      workload: { plugin_name: 'file_watcher', config: { ...files, refresh_interval: '600s' } },
    });
    // The node id claims the namespace and service account of the certificate's SPIFFE ID.
    expect(bootstrap.node.id).toMatch(/~shop~reviews$/);
    // It tells Switchyard it has the `workload` instance, so it is sent TLS naming it (gRFC A29).
    expect(bootstrap.node.metadata['switchyard.dev/certificate-provider']).toBe('workload');
  });

  it('grpc-js-xds validates its file_watcher provider; it refuses the tls channel creds it does not implement instead of using plain text', () => {
    expect(() => validateBootstrapConfig(bootstrap)).toThrow(
      /channel_creds field: must contain at least one entry with a type in \[google_default,insecure\]/,
    );
    const insecure = { ...bootstrap, xds_servers: [{ ...bootstrap.xds_servers[0], channel_creds: [{ type: 'insecure' }] }] };
    expect(() => validateBootstrapConfig(insecure)).not.toThrow();
    // The validation is real: a provider without its key is refused.
    const { private_key_file: _dropped, ...withoutKey } = bootstrap.certificate_providers.workload.config;
    const broken = { ...insecure, certificate_providers: { workload: { plugin_name: 'file_watcher', config: withoutKey } } };
    expect(() => validateBootstrapConfig(broken)).toThrow(/private_key_file and certificate_file must be provided or omitted together/);
  });

  it('gRPC C-core accepts the file_watcher provider and connects as its node; it refuses tls channel creds it predates rather than fall back', async () => {
    const server = new XdsServer({ cache: new ResourceCache() });
    server.setReady();
    const opened: StreamIdentity[] = [];
    server.on('streamOpened', (stream) => opened.push(stream));
    const port = await server.start(0);
    try {
      // The file as shipped: C-core 1.51 has no A65 `tls` creds, so it makes no xDS client at all.
      const refused = await runCcore(localCopy(port));
      expect(refused.stderr).toContain('xds_servers[0].channel_creds error:no known creds type found');
      expect(refused.stdout.trim()).toBe('not ready');
      expect(opened).toEqual([]);

      // The same bootstrap with only the control-plane creds swapped: the certificate provider
      // block parses, and C-core opens its ADS stream as the node the file names.
      const accepted = await runCcore(localCopy(port, [{ type: 'insecure' }]));
      expect(accepted.stderr).not.toMatch(/certificate_providers/);
      expect(opened.map((stream) => [stream.nodeId, stream.client.implementation])).toContainEqual([bootstrap.node.id, 'grpc-core']);

      // C-core does check the provider: the same file without the key makes no xDS client.
      const broken = JSON.parse(readFileSync(localCopy(port, [{ type: 'insecure' }]), 'utf8')) as Bootstrap;
      delete broken.certificate_providers.workload.config.private_key_file;
      writeFileSync(path.join(dir, 'broken.json'), JSON.stringify(broken));
      const before = opened.length;
      const refusedProvider = await runCcore(path.join(dir, 'broken.json'));
      expect(refusedProvider.stderr).toContain('fields "certificate_file" and "private_key_file" must be both set or both unset');
      expect(opened.length).toBe(before);
    } finally {
      server.forceShutdown();
    }
  }, 30_000);
});
