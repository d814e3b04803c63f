// The injection webhook over HTTPS, answering AdmissionReview v1 bodies as the API server sends
// them: the returned JSON patch applies to the pod, and the pod it yields starts an Envoy whose
// bootstrap (after the kubelet expands the downward-API variables) names the pod's identity, and
// an init container whose capture flags carry the pod's exclusions. Pods it must leave alone get
// no patch; bad bodies get a 400 that says what is wrong, and the server keeps answering.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import nodePath from 'node:path';
import { request } from 'node:https';
import { parse } from 'yaml';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../src/security/certificates.js';
import { readCertificateDir, startInjectionServer, watchCertificateDir, type InjectionServer } from '../../src/injection/server.js';
import { DEFAULT_CAPTURE, captureRules } from '../../src/injection/capture.js';
import { CAPTURE_FLAGS, captureSettings } from '../../src/injection/flags.js';
import { answerReview, type InjectionSettings } from '../../src/injection/admission.js';
import { parseFlags } from '../../src/cli/flags.js';
import { eventually } from '../support/kube-api-server.js';
import { decodeMessage, encodeMessage } from '../../src/envoy/protos.js';
import { fromProto3Json } from '../../src/envoy/proto-json.js';
import { validateResource } from '../../src/envoy/validation-rules.js';

const HOST = 'switchyard-injection.switchyard-system.svc';
const serverOf = (authority: CertificateAuthority) => issueCertificate(authority, { dnsNames: [HOST], usage: 'server' });
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

const settings: InjectionSettings = {
  sidecar: {
    proxyImage: 'envoyproxy/envoy:v1.31-latest',
    captureImage: 'switchyard:0.1.0',
    xdsHost: 'switchyard.switchyard-system.svc',
    xdsPort: 18000,
    xdsServerIdentity: 'spiffe://cluster.local/ns/switchyard-system/sa/switchyard',
  },
  capture: DEFAULT_CAPTURE,
  skipNamespaces: new Set(['kube-system', 'switchyard-system']),
};

let ca = createCertificateAuthority({ commonName: 'injection test CA' });
let server: InjectionServer;

beforeAll(async () => {
  server = await startInjectionServer({ host: '127.0.0.1', port: 0, settings, certificate: serverOf(ca) });
});

afterAll(async () => {
  await server.close();
});

/** POSTs a body the way the API server does: HTTPS, trusting only the caBundle, to the Service's name. */
function post(path: string, body: string, trusted = ca.cert): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        servername: HOST,
        ca: trusted,
        // A new connection each time, so each request shows what a new handshake gets.
        agent: false,
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let uid = 0;

/** An AdmissionReview v1 of a pod CREATE, as the API server builds it (the pod's namespace is on the request, not always the pod). */
function review(pod: any, namespace: string): any {
  uid++;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `705ab4f5-6393-11e8-b7cc-42010a80000${uid}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

/** A Deployment's pod as the ReplicaSet controller creates it: generateName, no name, no IP yet. */
function pod(extra: { annotations?: Record<string, string>; labels?: Record<string, string>; spec?: any } = {}): any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'reviews-7d9f8c-',
      labels: { app: 'reviews', ...extra.labels },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: {
      serviceAccountName: 'reviews',
      containers: [{ name: 'app', image: 'reviews:1', ports: [{ containerPort: 9080 }] }],
      ...extra.spec,
    },
  };
}

async function admit(path: string, object: any, namespace = 'shop'): Promise<any> {
  const body = review(object, namespace);
  const answer = await post(path, JSON.stringify(body));
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: body.request.uid } });
  return answer.body.response;
}

// ---- An RFC 6902 "add" and the kubelet's $(VAR) expansion, written here so the test depends on neither side's code. ----

function applyPatch(document: any, operations: any[]): any {
  const result = structuredClone(document);
  for (const operation of operations) {
    expect(operation.op).toBe('add');
    const segments = operation.path
      .split('/')
      .slice(1)
      .map((s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = segments.pop();
    let parent = result;
    for (const segment of segments) {
      if (parent[segment] === undefined) throw new Error(`JSON patch: ${operation.path}: the parent does not exist`);
      parent = parent[segment];
    }
    if (Array.isArray(parent)) {
      if (last === '-') parent.push(operation.value);
      else parent.splice(Number(last), 0, operation.value);
    } else parent[last] = operation.value;
  }
  return result;
}

/** What the kubelet does to a container's args: $(NAME) becomes the value of env NAME, resolved from the pod. */
function expandArgs(container: any, runningPod: { name: string; namespace: string; ip: string; serviceAccount: string }): string[] {
  const fields: Record<string, string> = {
    'metadata.name': runningPod.name,
    'metadata.namespace': runningPod.namespace,
    'status.podIP': runningPod.ip,
    'spec.serviceAccountName': runningPod.serviceAccount,
  };
  const env = new Map<string, string>(container.env.map((e: any) => [e.name, fields[e.valueFrom.fieldRef.fieldPath]]));
  return container.args.map((arg: string) => arg.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (whole, name) => env.get(name) ?? whole));
}

function decodedBootstrap(yamlText: string): any {
  const value = fromProto3Json(BOOTSTRAP, parse(yamlText));
  expect(validateResource(BOOTSTRAP, value)).toEqual([]);
  return decodeMessage(BOOTSTRAP, encodeMessage(BOOTSTRAP, value));
}

function patched(response: any, original: any): any {
  expect(response.allowed).toBe(true);
  expect(response.patchType).toBe('JSONPatch');
  return applyPatch(original, JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')));
}

describe('a pod in a namespace with injection on', () => {
  it('gets the init container and the Envoy sidecar, after its own containers', async () => {
    const original = pod({ spec: { initContainers: [{ name: 'migrate', image: 'migrate:1' }] } });
    const result = patched(await admit('/inject/namespace', original), original);
    expect(result.spec.initContainers.map((c: any) => c.name)).toEqual(['migrate', 'switchyard-capture']);
    expect(result.spec.containers.map((c: any) => c.name)).toEqual(['app', 'switchyard-proxy']);
    expect(result.metadata.annotations).toEqual(expect.objectContaining({ 'switchyard.dev/injected': 'true' }));
    const proxy = result.spec.containers[1];
    expect(proxy.image).toBe('envoyproxy/envoy:v1.31-latest');
    expect(proxy.securityContext).toMatchObject({
      runAsUser: 1337,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    const init = result.spec.initContainers[1];
    expect(init.image).toBe('switchyard:0.1.0');
    expect(init.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
  });

  it("starts an Envoy whose bootstrap names the running pod's identity, from the downward API", async () => {
    const original = pod();
    const proxy = patched(await admit('/inject/namespace', original), original).spec.containers[1];
    expect(Object.fromEntries(proxy.env.map((e: any) => [e.name, e.valueFrom.fieldRef.fieldPath]))).toEqual({
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
      POD_IP: 'status.podIP',
      SERVICE_ACCOUNT: 'spec.serviceAccountName',
    });
    const args = expandArgs(proxy, { name: 'reviews-7d9f8c-x2v9q', namespace: 'shop', ip: '10.244.1.17', serviceAccount: 'reviews' });
    expect(proxy.command).toEqual(['envoy']);
    const bootstrap = decodedBootstrap(args[args.indexOf('--config-yaml') + 1]);
    // <pod>~<namespace>~<service-account>: the identity rule checks the last two against the SPIFFE ID.
    expect(bootstrap.node.id).toBe('reviews-7d9f8c-x2v9q~shop~reviews');
    expect(bootstrap.node.cluster).toBe('shop');
    const metadata = Object.fromEntries(Object.entries(bootstrap.node.metadata.fields).map(([k, v]: [string, any]) => [k, v.stringValue]));
    expect(metadata).toEqual({
      'switchyard.dev/role': 'sidecar',
      'switchyard.dev/namespace': 'shop',
      'switchyard.dev/pod': 'reviews-7d9f8c-x2v9q',
      'switchyard.dev/pod-ip': '10.244.1.17',
      'switchyard.dev/service-account': 'reviews',
    });
    // The rest is envoy/sidecar.yaml (ADS over mutual TLS to the control plane, admin on loopback, the health listener).
    const reference = decodedBootstrap(readFileSync('envoy/sidecar.yaml', 'utf8'));
    expect({ ...bootstrap, node: undefined }).toEqual({ ...reference, node: undefined });
    expect(bootstrap.staticResources.clusters[0].transportSocket.name).toBe('envoy.transport_sockets.tls');
    expect(proxy.readinessProbe.httpGet.port).toBe(15021);
  });

  it('mounts the csi-driver-spiffe certificate and the SDS files envoy/ ships, so the proxy reaches the control plane over mutual TLS', async () => {
    const original = pod({ spec: { volumes: [{ name: 'data', emptyDir: {} }] } });
    const result = patched(await admit('/inject/namespace', original), original);
    const volumes = Object.fromEntries(result.spec.volumes.map((v: any) => [v.name, v]));
    expect(Object.keys(volumes)).toEqual(['data', 'switchyard-spiffe', 'switchyard-sds']);
    expect(volumes['switchyard-spiffe'].csi).toEqual({ driver: 'spiffe.csi.cert-manager.io', readOnly: true });
    const proxy = result.spec.containers[1];
    expect(proxy.volumeMounts).toEqual([
      { name: 'switchyard-sds', mountPath: '/etc/envoy', readOnly: true },
      { name: 'switchyard-spiffe', mountPath: '/var/run/secrets/spiffe.io', readOnly: true },
    ]);
    // What the kubelet writes into the downward-API volume: the annotations the patch added, which
    // are envoy/workload-certificate.yaml and envoy/trust-bundle.yaml, valid Secrets.
    for (const item of volumes['switchyard-sds'].downwardAPI.items) {
      const annotation = /^metadata\.annotations\['(.+)'\]$/.exec(item.fieldRef.fieldPath)![1];
      const written = parse(result.metadata.annotations[annotation]);
      expect(written).toEqual(parse(readFileSync(`envoy/${item.path}`, 'utf8')));
      for (const resource of written.resources) {
        const { '@type': type, ...secret } = resource;
        expect(type).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret');
        expect(
          validateResource(
            'envoy.extensions.transport_sockets.tls.v3.Secret',
            fromProto3Json('envoy.extensions.transport_sockets.tls.v3.Secret', secret),
          ),
        ).toEqual([]);
      }
    }
  });

  it('with the plain-text control plane (--injection-xds-plaintext) adds no certificate volume and no transport socket', async () => {
    const plain: InjectionSettings = { ...settings, sidecar: { ...settings.sidecar, xdsServerIdentity: undefined } };
    const original = pod();
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'p', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object: original },
    };
    const answer = answerReview(review, 'namespace', plain);
    const result = patched(answer.body.response, original);
    expect(result.spec.volumes).toBeUndefined();
    expect(result.metadata.annotations).toEqual({ 'switchyard.dev/injected': 'true' });
    const proxy = result.spec.containers[1];
    expect(proxy.volumeMounts).toBeUndefined();
    const args = expandArgs(proxy, { name: 'r-1', namespace: 'shop', ip: '10.0.0.1', serviceAccount: 'reviews' });
    const bootstrap = decodedBootstrap(args[args.indexOf('--config-yaml') + 1]);
    expect(bootstrap.staticResources.clusters[0].transportSocket).toBeUndefined();
  });

  it("passes the pod's exclusion annotations to the capture rules; the defaults keep 15001/15006 and UID 1337", async () => {
    const original = pod({
      annotations: {
        'switchyard.dev/exclude-outbound-ports': '5432, 6379',
        'switchyard.dev/exclude-outbound-cidrs': '169.254.169.254,10.10.0.0/16',
        'switchyard.dev/exclude-inbound-ports': '9090',
      },
    });
    const result = patched(await admit('/inject/namespace', original), original);
    expect(result.metadata.annotations['switchyard.dev/injected']).toBe('true');
    const init = result.spec.initContainers[0];
    expect(init.args[0]).toBe('capture');
    const flags = parseFlags(CAPTURE_FLAGS, init.args.slice(1), {});
    expect(flags.values.apply).toBe(true);
    const capture = captureSettings(flags.values);
    expect(capture).toMatchObject({
      outboundPort: 15001,
      inboundPort: 15006,
      proxyUid: 1337,
      excludeOutboundPorts: [5432, 6379],
      excludeOutboundCidrs: ['169.254.169.254/32', '10.10.0.0/16'],
      excludeInboundPorts: [9090],
    });
    const rules = captureRules(capture);
    expect(rules).toContain('-A SWITCHYARD_OUTBOUND -p tcp --dport 5432 -j RETURN');
    expect(rules).toContain('-A SWITCHYARD_INBOUND -p tcp --dport 9090 -j RETURN');
  });

  it('refuses a pod whose annotation cannot be read, naming the pod, the annotation and the fix', async () => {
    const response = await admit('/inject/namespace', pod({ annotations: { 'switchyard.dev/exclude-outbound-ports': '5432,postgres' } }));
    expect(response.allowed).toBe(false);
    expect(response.status.code).toBe(400);
    expect(response.status.message).toBe(
      'pod shop/reviews-7d9f8c-: annotation switchyard.dev/exclude-outbound-ports: "postgres" is not a port number (1-65535); write comma-separated port numbers, e.g. "5432,6379"',
    );
    const typo = await admit('/inject/namespace', pod({ annotations: { 'switchyard.dev/inject': 'enabled' } }));
    expect(typo.allowed).toBe(false);
    expect(typo.status.message).toMatch(/switchyard.dev\/inject is "enabled"; write "true" to inject the sidecar or "false"/);
  });
});

describe('pods the webhook leaves alone (allowed, no patch)', () => {
  const cases: Array<[string, string, any, string]> = [
    [
      'a pod annotated switchyard.dev/inject: "false"',
      '/inject/namespace',
      pod({ annotations: { 'switchyard.dev/inject': 'false' } }),
      'shop',
    ],
    ['a pod labelled switchyard.dev/inject: "false"', '/inject/namespace', pod({ labels: { 'switchyard.dev/inject': 'false' } }), 'shop'],
    ['a pod in kube-system', '/inject/namespace', pod(), 'kube-system'],
    [
      "a pod in the control plane's namespace",
      '/inject/pod',
      pod({ annotations: { 'switchyard.dev/inject': 'true' } }),
      'switchyard-system',
    ],
    ['a host-network pod', '/inject/namespace', pod({ spec: { hostNetwork: true } }), 'shop'],
    [
      'a pod that already has the sidecar',
      '/inject/namespace',
      pod({ spec: { containers: [{ name: 'app' }, { name: 'switchyard-proxy' }] } }),
      'shop',
    ],
    ['a pod of a namespace without injection that does not opt in', '/inject/pod', pod(), 'shop'],
  ];
  it.each(cases)('%s', async (_name, path, object, namespace) => {
    const response = await admit(path, object, namespace);
    expect(response).toEqual({ uid: expect.any(String), allowed: true });
  });

  it('re-admitting an injected pod adds nothing (a second webhook call or a re-invocation)', async () => {
    const original = pod();
    const injected = patched(await admit('/inject/namespace', original), original);
    expect(await admit('/inject/namespace', injected)).toEqual({ uid: expect.any(String), allowed: true });
  });

  it('a pod that opts in with the annotation is injected in a namespace without injection', async () => {
    const original = pod({ annotations: { 'switchyard.dev/inject': 'true' } });
    const result = patched(await admit('/inject/pod', original), original);
    expect(result.spec.containers.map((c: any) => c.name)).toEqual(['app', 'switchyard-proxy']);
  });
});

describe('what is not a pod CREATE it can answer', () => {
  it('a body that is not JSON, a review without uid, a v1beta1 review: 400 saying what is wrong', async () => {
    expect(await post('/inject/namespace', '{"apiVersion": "admission.k8s.io/v1", ')).toEqual({
      status: 400,
      body: { error: expect.stringMatching(/^not an AdmissionReview this webhook can answer: the body is not JSON/) },
    });
    const noUid = review(pod(), 'shop');
    delete noUid.request.uid;
    expect(await post('/inject/namespace', JSON.stringify(noUid))).toEqual({
      status: 400,
      body: { error: 'not an AdmissionReview this webhook can answer: request.uid is missing' },
    });
    const beta = { ...review(pod(), 'shop'), apiVersion: 'admission.k8s.io/v1beta1' };
    expect((await post('/inject/namespace', JSON.stringify(beta))).body.error).toMatch(
      /admission.k8s.io\/v1beta1\/AdmissionReview, expected admission.k8s.io\/v1\/AdmissionReview \(set admissionReviewVersions: \["v1"\]\)/,
    );
    expect((await post('/inject/namespace', '[]')).status).toBe(400);
  });

  it('a review of another kind is allowed unchanged, with a warning; an UPDATE is allowed unchanged', async () => {
    const deployment = review({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'reviews' } }, 'shop');
    deployment.request.kind = { group: 'apps', version: 'v1', kind: 'Deployment' };
    const answer = await post('/inject/namespace', JSON.stringify(deployment));
    expect(answer.body.response).toEqual({
      uid: deployment.request.uid,
      allowed: true,
      warnings: ['switchyard injection: expected a Pod in request.object, got Deployment; left unchanged'],
    });
    const update = review(pod(), 'shop');
    update.request.operation = 'UPDATE';
    expect((await post('/inject/namespace', JSON.stringify(update))).body.response).toEqual({ uid: update.request.uid, allowed: true });
  });

  it('an unknown path is a 404 naming the paths; the server still injects afterwards', async () => {
    const answer = await post('/mutate', JSON.stringify(review(pod(), 'shop')));
    expect(answer).toEqual({ status: 404, body: { error: 'no webhook at /mutate; the paths are /inject/namespace, /inject/pod' } });
    expect((await admit('/inject/namespace', pod())).patchType).toBe('JSONPatch');
  });
});

describe('the serving certificate', () => {
  it('is replaced without a restart: new handshakes trust the new CA only', async () => {
    const old = ca;
    ca = createCertificateAuthority({ commonName: 'rotated test CA' });
    server.setCertificate(serverOf(ca));
    expect((await admit('/inject/namespace', pod())).allowed).toBe(true);
    await expect(post('/inject/namespace', JSON.stringify(review(pod(), 'shop')), old.cert)).rejects.toThrow(/certificate/i);
  });

  it('from a mounted Secret directory: read at start, and again when the files change', async () => {
    const dir = mkdtempSync(nodePath.join(tmpdir(), 'injection-tls-'));
    const write = (pair: { cert: string; key: string }) => {
      writeFileSync(nodePath.join(dir, 'tls.crt'), pair.cert);
      writeFileSync(nodePath.join(dir, 'tls.key'), pair.key);
    };
    let stop = () => {};
    try {
      expect(() => readCertificateDir(dir)).toThrow(`--injection-cert-dir: cannot read ${nodePath.join(dir, 'tls.crt')}`);
      const mounted = createCertificateAuthority({ commonName: 'mounted CA' });
      write(serverOf(mounted));
      server.setCertificate(readCertificateDir(dir));
      ca = mounted;
      expect((await admit('/inject/namespace', pod())).allowed).toBe(true);
      const loaded: string[] = [];
      stop = watchCertificateDir(dir, (pair) => (loaded.push(pair.cert), server.setCertificate(pair)), 20);
      const renewed = createCertificateAuthority({ commonName: 'renewed mounted CA' });
      const pair = serverOf(renewed);
      write(pair);
      await eventually('the changed files are read', () => loaded.length > 0);
      expect(loaded).toEqual([pair.cert]);
      ca = renewed;
      expect((await admit('/inject/namespace', pod())).allowed).toBe(true);
    } finally {
      stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
