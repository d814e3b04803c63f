// The injection webhook's generated certificate against the test API server: replicas that start
// together agree on one Secret, the leader alone writes the CA into deploy/injection.yaml's
// MutatingWebhookConfiguration (once), a renewal keeps the CA, and a replica in Kubernetes mode
// answers an AdmissionReview over HTTPS to a client that trusts only the caBundle the API
// server holds, as the API server itself would.
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import YAML from 'yaml';
import { eventually, KubeApiServer, type JsonObject } from '../support/kube-api-server.js';
import { startTestReplica, TEST_LEASE } from '../support/kube-replica.js';
import { InjectionCertificate, type InjectionCertificateOptions } from '../../src/kubernetes/injection-certificate.js';
import { DEFAULT_CAPTURE } from '../../src/injection/capture.js';
import type { KubernetesMode } from '../../src/kubernetes/mode.js';

const NAMESPACE = TEST_LEASE.namespace;

function webhookConfiguration(): JsonObject {
  const docs = YAML.parseAllDocuments(readFileSync('deploy/injection.yaml', 'utf8')).map((d) => d.toJS() as JsonObject);
  return docs.find((d) => d.kind === 'MutatingWebhookConfiguration')!;
}

class FakeLeader extends EventEmitter {
  constructor(public leading = false) {
    super();
  }
  isLeader(): boolean {
    return this.leading;
  }
}

let api: KubeApiServer;
const replicas: KubernetesMode[] = [];
const certificates: InjectionCertificate[] = [];

beforeEach(async () => {
  api = new KubeApiServer();
  await api.start();
  api.apply(webhookConfiguration());
});

afterEach(async () => {
  for (const certificate of certificates.splice(0)) certificate.stop();
  for (const replica of replicas.splice(0)) await replica.stop();
  await api.stop();
});

function keeper(client: string, leader: FakeLeader, extra: Partial<InjectionCertificateOptions> = {}): InjectionCertificate {
  const certificate = new InjectionCertificate({
    kubeConfig: api.kubeConfig(client),
    namespace: NAMESPACE,
    secretName: 'switchyard-injection-tls',
    serviceName: 'switchyard-injection',
    webhookConfiguration: 'switchyard-injection',
    leader,
    ...extra,
  });
  certificates.push(certificate);
  return certificate;
}

const configurationWrites = () => api.writes.filter((w) => w.path.includes('mutatingwebhookconfigurations'));
const caBundles = () =>
  api.get('MutatingWebhookConfiguration', undefined, 'switchyard-injection')!.webhooks.map((w: JsonObject) => w.clientConfig.caBundle);

describe('the generated webhook certificate', () => {
  it('is one Secret every replica serves, even when they start at once; followers leave the caBundle alone', async () => {
    const [a, b] = await Promise.all([keeper('replica-a', new FakeLeader()).load(), keeper('replica-b', new FakeLeader()).load()]);
    expect(b).toEqual(a);
    const secret = api.get('Secret', NAMESPACE, 'switchyard-injection-tls')!;
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const served = new X509Certificate(a.cert);
    expect(served.checkHost(`switchyard-injection.${NAMESPACE}.svc`)).toBe(`switchyard-injection.${NAMESPACE}.svc`);
    expect(served.verify(new X509Certificate(a.ca).publicKey)).toBe(true);
    expect(await keeper('replica-c', new FakeLeader()).syncCaBundle()).toBe(false);
    expect(configurationWrites()).toEqual([]);
    expect(caBundles().every((bundle: string | undefined) => bundle === undefined)).toBe(true);
  });

  it("the leader writes the CA into every webhook's caBundle, and only when it differs", async () => {
    const leader = new FakeLeader(true);
    const certificate = keeper('replica-a', leader);
    const { ca } = await certificate.load();
    expect(await certificate.syncCaBundle()).toBe(true);
    const bundles = caBundles();
    expect(bundles.length).toBeGreaterThanOrEqual(2);
    for (const bundle of bundles) expect(Buffer.from(bundle, 'base64').toString('utf8')).toBe(ca);
    expect(await certificate.syncCaBundle()).toBe(false);
    expect(configurationWrites()).toHaveLength(1);
    // The rest of the configuration is as deploy/ has it.
    const stored = api.get('MutatingWebhookConfiguration', undefined, 'switchyard-injection')!;
    expect(stored.webhooks.map((w: JsonObject) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: undefined } }))).toEqual(
      webhookConfiguration().webhooks.map((w: JsonObject) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: undefined } })),
    );
  });

  it('a serving certificate near its end is re-issued from the same CA, so the caBundle stays', async () => {
    const first = await keeper('replica-a', new FakeLeader()).load();
    const rotated: string[] = [];
    // Renew anything valid for less than two years: the one-year certificate is "near its end".
    const renewing = keeper('replica-b', new FakeLeader(), { renewBeforeMs: 2 * 365 * 24 * 3600 * 1000 });
    await renewing.load();
    renewing.start((pair) => rotated.push(pair.cert));
    await renewing.check();
    const stored = api.get('Secret', NAMESPACE, 'switchyard-injection-tls')!;
    const cert = Buffer.from(stored.data['tls.crt'], 'base64').toString('utf8');
    expect(cert).not.toBe(first.cert);
    expect(Buffer.from(stored.data['ca.crt'], 'base64').toString('utf8')).toBe(first.ca);
    expect(new X509Certificate(cert).verify(new X509Certificate(first.ca).publicKey)).toBe(true);
    expect(rotated).toEqual([cert]);
  });
});

describe('a replica in Kubernetes mode with --injection', () => {
  it('answers an AdmissionReview over HTTPS to a client trusting only the caBundle the leader wrote', async () => {
    const replica = await startTestReplica(api, {
      injection: {
        host: '127.0.0.1',
        port: 0,
        secretName: 'switchyard-injection-tls',
        serviceName: 'switchyard-injection',
        webhookConfiguration: 'switchyard-injection',
        settings: {
          sidecar: {
            proxyImage: 'envoy:test',
            captureImage: 'switchyard:test',
            xdsHost: 'switchyard.switchyard-system.svc',
            xdsPort: 18000,
          },
          capture: DEFAULT_CAPTURE,
          skipNamespaces: new Set(['kube-system', NAMESPACE]),
        },
      },
    });
    replicas.push(replica);
    await eventually('caBundle written', () => caBundles().every((b: string | undefined) => b !== undefined));
    const ca = Buffer.from(caBundles()[0], 'base64').toString('utf8');
    const path = webhookConfiguration().webhooks.find((w: JsonObject) => w.name.startsWith('namespace.')).clientConfig.service.path;
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'b7c1a3e2-0001',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        namespace: 'shop',
        operation: 'CREATE',
        object: { metadata: { generateName: 'web-' }, spec: { containers: [{ name: 'web', image: 'web:1' }] } },
      },
    };
    const answer = await new Promise<JsonObject>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: replica.injection!.server.port,
          servername: `switchyard-injection.${NAMESPACE}.svc`,
          ca,
          agent: false,
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve(JSON.parse(text)));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(review));
    });
    expect(answer.response).toMatchObject({ uid: 'b7c1a3e2-0001', allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8'));
    expect(patch.map((op: JsonObject) => op.path)).toEqual(['/spec/initContainers', '/spec/containers/-', '/metadata/annotations']);
  });
});
