// The control plane's deployment files: every YAML parses with the expected shape, the
// kustomization names only files that exist, the Deployment's probes hit the admin server's
// pages, RBAC stays least-privilege, and the Grafana dashboard queries metrics that exist.
import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import YAML from 'yaml';
import { AdminMetrics } from '../../src/admin/metrics.js';
import type { ObservedPipeline, ObservedXdsServer } from '../../src/admin/types.js';
import { ResourceCache } from '../../src/cache/cache.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const NAMESPACE = 'switchyard-system';
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'MutatingWebhookConfiguration',
]);

/** Separate installs with their own kustomization: an edge gateway, an example application, the
 * mesh CA (cert-manager issuers, installed before), the plain-text opt-out overlay, and the
 * GatewayClass (installed after the upstream Gateway API CRDs). */
const SEPARATE_INSTALLS = new Set(['gateway', 'examples', 'mesh-ca', 'overlays', 'gateway-api']);

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return dir === DEPLOY && SEPARATE_INSTALLS.has(entry) ? [] : yamlFiles(full);
    return /\.ya?ml$/.test(entry) ? [full] : [];
  });
}

type Doc = Record<string, any>;

function documents(file: string): Doc[] {
  return YAML.parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path.relative(ROOT, file)}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as Doc;
  });
}

const objects = yamlFiles(DEPLOY)
  .filter((file) => path.basename(file) !== 'kustomization.yaml')
  .flatMap((file) => documents(file).map((doc) => ({ file: path.relative(DEPLOY, file), doc })));

function only(kind: string, name = 'switchyard'): Doc {
  const found = objects.filter(({ doc }) => doc.kind === kind && doc.metadata?.name === name);
  expect(found).toHaveLength(1);
  return found[0].doc;
}

describe('deploy/', () => {
  it('holds only Kubernetes objects with apiVersion, kind and a name; namespaced ones in switchyard-system', () => {
    expect(objects.length).toBeGreaterThanOrEqual(10);
    for (const { file, doc } of objects) {
      const where = `${file} ${doc.kind}/${doc.metadata?.name}`;
      expect([where, typeof doc.apiVersion]).toEqual([where, 'string']);
      expect([where, typeof doc.kind]).toEqual([where, 'string']);
      expect([where, typeof doc.metadata?.name]).toEqual([where, 'string']);
      if (!CLUSTER_SCOPED.has(doc.kind) && !file.startsWith('crds/')) expect([where, doc.metadata.namespace]).toEqual([where, NAMESPACE]);
    }
  });

  it('has a kustomization whose resources and generated files all exist, CRD included', () => {
    const [kustomization] = documents(path.join(DEPLOY, 'kustomization.yaml'));
    expect(kustomization.kind).toBe('Kustomization');
    expect(kustomization.namespace).toBe(NAMESPACE);
    expect(kustomization.resources).toContain('crds/trafficpolicies.switchyard.dev.yaml');
    expect(kustomization.resources).toContain('crds/accesspolicies.switchyard.dev.yaml');
    const files = [...kustomization.resources, ...kustomization.configMapGenerator.flatMap((g: Doc) => g.files)];
    for (const file of files) expect([file, existsSync(path.join(DEPLOY, file))]).toEqual([file, true]);
    // Everything in deploy/ except the optional Prometheus operator object is installed.
    const listed = new Set(kustomization.resources.map((f: string) => path.normalize(f)));
    const unlisted = yamlFiles(DEPLOY)
      .map((f) => path.relative(DEPLOY, f))
      .filter((f) => f !== 'kustomization.yaml' && !listed.has(f));
    expect(unlisted).toEqual(['monitoring/servicemonitor.yaml']);
  });

  it('runs two non-root, read-only replicas spread over zones, probed on the admin pages', () => {
    const deployment = only('Deployment');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.selector.matchLabels).toEqual(
      Object.fromEntries(
        Object.entries(deployment.spec.template.metadata.labels).filter(([k]) => k in deployment.spec.selector.matchLabels),
      ),
    );
    expect(container.args.slice(0, 2)).toEqual(['serve', '--kubernetes']);
    const ports = Object.fromEntries(container.ports.map((p: Doc) => [p.name, p.containerPort]));
    expect(ports).toEqual({ 'grpc-xds': 18000, 'http-admin': 19000, 'https-injection': 9443 });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http-admin' });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits).toMatchObject({ memory: expect.any(String) });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.topologySpreadConstraints.map((c: Doc) => c.topologyKey)).toContain('topology.kubernetes.io/zone');
    expect(pod.serviceAccountName).toBe(only('ServiceAccount').metadata.name);
    expect(deployment.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '19000' });
  });

  it('exposes xDS and admin ports on a Service that selects the pods, with a PodDisruptionBudget', () => {
    const podLabels = only('Deployment').spec.template.metadata.labels;
    const service = only('Service');
    expect(service.spec.ports.map((p: Doc) => [p.name, p.port, p.targetPort])).toEqual([
      ['grpc-xds', 18000, 'grpc-xds'],
      ['http-admin', 19000, 'http-admin'],
    ]);
    for (const [key, value] of Object.entries(service.spec.selector)) expect(podLabels[key]).toBe(value);
    const pdb = only('PodDisruptionBudget');
    expect(pdb.spec.minAvailable).toBe(1);
    for (const [key, value] of Object.entries(pdb.spec.selector.matchLabels)) expect(podLabels[key]).toBe(value);
    // The ServiceMonitor selects the Service by its labels and scrapes the admin port.
    const monitor = only('ServiceMonitor');
    for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels)) expect(service.metadata.labels[key]).toBe(value);
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: 'http-admin', path: '/metrics' });
  });

  it('grants read access to what is translated and write access only to statuses, events and its own Lease', () => {
    const clusterRole = only('ClusterRole');
    const grants = new Map<string, Set<string>>();
    for (const rule of clusterRole.rules) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          const key = `${group || 'core'}/${resource}`;
          grants.set(key, new Set([...(grants.get(key) ?? []), ...rule.verbs]));
        }
      }
    }
    const read = ['get', 'list', 'watch'];
    expect(Object.fromEntries([...grants].map(([key, verbs]) => [key, [...verbs].sort()]))).toEqual({
      'core/services': read,
      'core/secrets': read,
      'core/namespaces': read,
      'core/pods': read,
      'discovery.k8s.io/endpointslices': read,
      'networking.k8s.io/ingresses': read,
      'networking.k8s.io/ingressclasses': read,
      'switchyard.dev/trafficpolicies': read,
      'switchyard.dev/trafficpolicies/status': ['patch'],
      'switchyard.dev/accesspolicies': read,
      'switchyard.dev/accesspolicies/status': ['patch'],
      'networking.k8s.io/ingresses/status': ['patch'],
      ...Object.fromEntries(
        ['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'referencegrants'].map((r) => [`gateway.networking.k8s.io/${r}`, read]),
      ),
      ...Object.fromEntries(
        ['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes'].map((r) => [`gateway.networking.k8s.io/${r}/status`, ['patch']]),
      ),
      'events.k8s.io/events': ['create'],
      'authorization.k8s.io/subjectaccessreviews': ['create'],
    });
    // Every write and every single-object call has code that makes it (the informers list and
    // watch every kind read above).
    const uses: Array<[string, string, string]> = [
      ['core/services get', 'src/kubernetes/ingress-status.ts', 'readNamespacedService('],
      ['core/secrets get', 'src/kubernetes/event-recorder.ts', 'readNamespacedSecret('],
      ['core/pods get', 'src/kubernetes/event-recorder.ts', 'readNamespacedPod('],
      ['custom kinds get', 'src/kubernetes/event-recorder.ts', 'getNamespacedCustomObject('],
      ['trafficpolicies/status patch', 'src/kubernetes/policy-status.ts', 'patchNamespacedCustomObjectStatus('],
      ['accesspolicies/status patch', 'src/kubernetes/policy-status.ts', 'ACCESS_POLICY_PLURAL'],
      ['ingresses/status patch', 'src/kubernetes/ingress-status.ts', 'patchNamespacedIngressStatus('],
      ['gateways, httproutes, grpcroutes /status patch', 'src/kubernetes/gateway-status.ts', 'patchNamespacedCustomObjectStatus('],
      ['gatewayclasses/status patch', 'src/kubernetes/gateway-status.ts', 'patchClusterCustomObjectStatus('],
      ['events create', 'src/kubernetes/event-recorder.ts', 'createNamespacedEvent('],
      ['subjectaccessreviews create', 'src/kubernetes/secret-access-review.ts', 'createSubjectAccessReview('],
      ['leases get', 'src/kubernetes/leader.ts', 'readNamespacedLease('],
      ['leases create', 'src/kubernetes/leader.ts', 'createNamespacedLease('],
      ['leases update', 'src/kubernetes/leader.ts', 'replaceNamespacedLease('],
      ['TLS Secrets only', 'src/sources/kubernetes.ts', 'fieldSelector: `type=${TLS_SECRET_TYPE}`'],
    ];
    for (const [grant, file, call] of uses) {
      expect([grant, readFileSync(path.join(ROOT, file), 'utf8').includes(call)]).toEqual([grant, true]);
    }
    const role = only('Role', 'switchyard-leader-election');
    expect(role.metadata.namespace).toBe(NAMESPACE);
    expect(role.rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
    for (const binding of [only('ClusterRoleBinding'), only('RoleBinding', 'switchyard-leader-election')]) {
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'switchyard', namespace: NAMESPACE }]);
    }
    expect(only('ClusterRoleBinding').roleRef.name).toBe(clusterRole.metadata.name);
  });

  it('serves xDS over mutual TLS with a cert-manager certificate, the identity rule on; plain text only through the opt-out overlay', () => {
    const deployment = only('Deployment');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    const certificate = only('Certificate', 'switchyard-xds');
    expect(certificate.apiVersion).toBe('cert-manager.io/v1');
    expect(certificate.spec.dnsNames).toContain('switchyard.switchyard-system.svc');
    expect(certificate.spec.uris).toEqual(['spiffe://cluster.local/ns/switchyard-system/sa/switchyard']);
    const volume = pod.volumes.find((v: Doc) => v.secret?.secretName === certificate.spec.secretName);
    const mount = container.volumeMounts.find((m: Doc) => m.name === volume.name);
    expect(mount.readOnly).toBe(true);
    expect(container.args).toEqual(
      expect.arrayContaining([
        `--tls-cert=${mount.mountPath}/tls.crt`,
        `--tls-key=${mount.mountPath}/tls.key`,
        `--client-ca=${mount.mountPath}/ca.crt`,
        '--identity-rule=spiffe',
      ]),
    );
    // The mesh CA that issues it is a separate install.
    const issuers = documents(path.join(DEPLOY, 'mesh-ca/issuers.yaml'));
    expect(issuers.filter((d) => d.kind === 'ClusterIssuer').map((d) => d.metadata.name)).toContain(certificate.spec.issuerRef.name);

    // The opt-out overlay: the same Deployment less the TLS arguments and volume, and no Certificate.
    const overlay = path.join(DEPLOY, 'overlays/plaintext');
    const [kustomization] = documents(path.join(overlay, 'kustomization.yaml'));
    expect(kustomization.resources).toEqual(['../../']);
    const [ops] = documents(path.join(overlay, 'no-tls.yaml')) as unknown as Array<Array<{ op: string; path: string; value?: string[] }>>;
    const args = ops.find((op) => op.path.endsWith('/args'))!.value!;
    // ...and injected sidecars told to reach it in plain text too.
    expect(args).toEqual([
      ...container.args.filter((arg: string) => !/^--(tls-cert|tls-key|client-ca|identity-rule|trust-domain)=/.test(arg)),
      '--injection-xds-plaintext',
    ]);
    const removed = ops.filter((op) => op.op === 'remove').map((op) => op.path);
    const index = (list: Doc[], name: string) => list.findIndex((entry) => entry.name === name);
    expect(removed).toEqual([
      `/spec/template/spec/containers/0/volumeMounts/${index(container.volumeMounts, mount.name)}`,
      `/spec/template/spec/volumes/${index(pod.volumes, volume.name)}`,
    ]);
    expect(
      kustomization.patches.some((p: Doc) => /\$patch: delete[\s\S]*kind: Certificate[\s\S]*name: switchyard-xds/.test(p.patch ?? '')),
    ).toBe(true);
  });

  it('has a Grafana dashboard whose every query names a metric the admin server exports', async () => {
    const dashboard = JSON.parse(readFileSync(path.join(DEPLOY, 'grafana/switchyard.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((panel: Doc) => (panel.targets ?? []).map((t: Doc) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    const titles = dashboard.panels.map((p: Doc) => p.title).join(' | ');
    expect(titles).toMatch(/Connected proxies/);
    expect(titles).toMatch(/convergence/i);
    expect(titles).toMatch(/NACK/);
    expect(titles).toMatch(/Resources in the cache/);

    const registry = new Registry();
    const server = Object.assign(new EventEmitter(), {
      streams: () => [],
      sendQueue: () => ({ bytes: 0, waiting: 0 }),
    }) as unknown as ObservedXdsServer;
    const metrics = new AdminMetrics({ server, cache: new ResourceCache(), pipeline: new EventEmitter() as ObservedPipeline, registry });
    try {
      const exported = new Set<string>();
      for (const metric of await registry.getMetricsAsJSON()) {
        exported.add(metric.name);
        if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(metric.name + suffix);
      }
      const used = new Set(exprs.flatMap((expr) => expr.match(/\b(?:switchyard|process|nodejs)_[a-z0-9_]+/g) ?? []));
      expect(used.size).toBeGreaterThanOrEqual(10);
      for (const name of used) expect([name, exported.has(name)]).toEqual([name, true]);
    } finally {
      metrics.detach();
    }
  });

  it('builds an image from node:20-slim that runs the CLI as a non-root user', () => {
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const lines = dockerfile.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
    expect(lines.filter((line) => line.startsWith('FROM ')).map((line) => line.split(/\s+/)[1])).toEqual(['node:20-slim', 'node:20-slim']);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(dockerfile).toMatch(/^USER [1-9]\d*(:\d+)?$/m);
    expect(lines.at(-2)).toBe('ENTRYPOINT ["node", "dist/src/cli/main.js"]');
    expect(lines.at(-1)).toBe('CMD ["serve"]');
    // Everything copied from the build context exists and is not excluded by .dockerignore.
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'));
    const copied = lines
      .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
      .flatMap((line) => line.split(/\s+/).slice(1, -1));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'deploy/crds']));
    for (const source of copied) {
      expect([source, existsSync(path.join(ROOT, source))]).toEqual([source, true]);
      expect([source, ignored.some((pattern) => source === pattern || source.startsWith(pattern + '/'))]).toEqual([source, false]);
    }
  });
});
