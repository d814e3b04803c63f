// deploy/injection.yaml and deploy/examples/injection/: the webhooks reach the server's paths
// through a Service whose port is the one the Deployment serves on; their selectors never send
// kube-system or the control plane's own pods, send a labelled namespace's pods to the
// namespace webhook (Fail) and other pods to the opt-in webhook (Ignore); the RBAC names exactly
// the objects the flags' defaults name; and the example's pods are injected with their exclusions.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { INJECTION_FLAGS } from '../../src/injection/flags.js';
import { answerReview, SCOPE_PATHS } from '../../src/injection/admission.js';
import { DEFAULT_CAPTURE } from '../../src/injection/capture.js';

type Doc = Record<string, any>;

function documents(file: string): Doc[] {
  return YAML.parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Doc);
}

const objects = documents('deploy/injection.yaml');
const find = (kind: string) => objects.filter((o) => o.kind === kind);
const configuration = find('MutatingWebhookConfiguration')[0];
const byName = Object.fromEntries(configuration.webhooks.map((w: Doc) => [w.name, w]));
const flagDefault = (name: string) => INJECTION_FLAGS.find((f) => f.name === name)!.default;

/** Kubernetes label-selector semantics for matchExpressions (and matchLabels). */
function matches(selector: Doc | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  const labelsOk = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    labelsOk &&
    (selector.matchExpressions ?? []).every((e: Doc) => {
      const has = e.key in labels;
      if (e.operator === 'In') return has && e.values.includes(labels[e.key]);
      if (e.operator === 'NotIn') return !has || !e.values.includes(labels[e.key]);
      if (e.operator === 'Exists') return has;
      if (e.operator === 'DoesNotExist') return !has;
      throw new Error(`unknown operator ${e.operator}`);
    })
  );
}

/** The webhooks the API server would call for a pod with `podLabels` in a namespace with `namespaceLabels`. */
function called(namespace: string, namespaceLabels: Record<string, string>, podLabels: Record<string, string> = {}): string[] {
  const labels = { ...namespaceLabels, 'kubernetes.io/metadata.name': namespace };
  return configuration.webhooks
    .filter((w: Doc) => matches(w.namespaceSelector, labels) && matches(w.objectSelector, podLabels))
    .map((w: Doc) => w.name);
}

describe('deploy/injection.yaml', () => {
  it('registers a webhook per path the server answers, on pod CREATE, admission.k8s.io/v1 only, through the webhook Service', () => {
    const service = find('Service')[0];
    expect(configuration.metadata.name).toBe(flagDefault('injection-webhook-configuration'));
    expect(service.metadata.name).toBe(flagDefault('injection-service'));
    expect(configuration.webhooks.map((w: Doc) => w.clientConfig.service.path).sort()).toEqual(Object.keys(SCOPE_PATHS).sort());
    for (const webhook of configuration.webhooks) {
      expect(webhook.admissionReviewVersions).toEqual(['v1']);
      expect(webhook.sideEffects).toBe('None');
      expect(webhook.rules).toEqual([
        { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' },
      ]);
      expect(webhook.clientConfig.service).toMatchObject({
        name: service.metadata.name,
        namespace: 'switchyard-system',
        port: service.spec.ports[0].port,
      });
    }
    // The Service's target port is the container port the Deployment serves the webhook on.
    const [deployment] = documents('deploy/deployment.yaml');
    const container = deployment.spec.template.spec.containers[0];
    const port = container.ports.find((p: Doc) => p.name === service.spec.ports[0].targetPort);
    expect(container.args).toEqual(
      expect.arrayContaining(['--injection', `--injection-port=${port.containerPort}`, '--injection-address=0.0.0.0']),
    );
    for (const [key, value] of Object.entries(service.spec.selector)) expect(deployment.spec.template.metadata.labels[key]).toBe(value);
  });

  it('never sends kube-system or the control plane namespace, whatever their labels', () => {
    for (const namespace of ['kube-system', 'switchyard-system', 'kube-public', 'kube-node-lease']) {
      expect([namespace, called(namespace, {})]).toEqual([namespace, []]);
      expect([namespace, called(namespace, { 'switchyard.dev/inject': 'enabled' }, { 'switchyard.dev/inject': 'true' })]).toEqual([
        namespace,
        [],
      ]);
    }
  });

  it('sends a labelled namespace to the Fail webhook, others to the Ignore one, and a pod labelled "false" to neither', () => {
    expect(called('shop', { 'switchyard.dev/inject': 'enabled' })).toEqual(['namespace.injection.switchyard.dev']);
    expect(byName['namespace.injection.switchyard.dev'].failurePolicy).toBe('Fail');
    expect(byName['namespace.injection.switchyard.dev'].clientConfig.service.path).toBe('/inject/namespace');
    expect(called('web', {})).toEqual(['pod.injection.switchyard.dev']);
    expect(byName['pod.injection.switchyard.dev'].failurePolicy).toBe('Ignore');
    expect(byName['pod.injection.switchyard.dev'].clientConfig.service.path).toBe('/inject/pod');
    expect(called('shop', { 'switchyard.dev/inject': 'enabled' }, { 'switchyard.dev/inject': 'false' })).toEqual([]);
    expect(called('legacy', { 'switchyard.dev/inject': 'disabled' }, { 'switchyard.dev/inject': 'true' })).toEqual([]);
  });

  it('grants update of this one webhook configuration and of the one certificate Secret, no more', () => {
    const clusterRole = find('ClusterRole')[0];
    expect(clusterRole.rules).toEqual([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [configuration.metadata.name],
        verbs: ['get', 'update'],
      },
    ]);
    const role = find('Role')[0];
    expect(role.metadata.namespace).toBe('switchyard-system');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: [flagDefault('injection-secret')], verbs: ['get', 'update'] },
    ]);
    for (const binding of [...find('ClusterRoleBinding'), ...find('RoleBinding')]) {
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'switchyard', namespace: 'switchyard-system' }]);
      expect(binding.roleRef.name).toBe('switchyard-injection');
    }
  });
});

describe('deploy/examples/injection', () => {
  const [kustomization] = documents('deploy/examples/injection/kustomization.yaml');
  const all = kustomization.resources.flatMap((file: string) => documents(`deploy/examples/injection/${file}`));
  const namespace = all.find((o: Doc) => o.kind === 'Namespace');
  const deployment = all.find((o: Doc) => o.kind === 'Deployment');

  it("has a namespace the namespace webhook serves, whose Pod Security level admits the capture container's capabilities", () => {
    expect(kustomization.namespace).toBe(namespace.metadata.name);
    expect(called(namespace.metadata.name, namespace.metadata.labels, deployment.spec.template.metadata.labels)).toEqual([
      'namespace.injection.switchyard.dev',
    ]);
    expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });

  it("gets its pods injected with the template's exclusions", () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: deployment.spec.template.metadata, spec: deployment.spec.template.spec };
    const answer = answerReview(
      {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: 'u1',
          kind: { group: '', version: 'v1', kind: 'Pod' },
          namespace: namespace.metadata.name,
          operation: 'CREATE',
          object: pod,
        },
      },
      'namespace',
      {
        sidecar: { proxyImage: 'envoy', captureImage: 'switchyard', xdsHost: 'switchyard.switchyard-system.svc', xdsPort: 18000 },
        capture: DEFAULT_CAPTURE,
        skipNamespaces: new Set(['kube-system', 'switchyard-system']),
      },
    );
    const patch = JSON.parse(Buffer.from((answer.body.response as Doc).patch, 'base64').toString('utf8'));
    const init = patch.find((op: Doc) => op.path === '/spec/initContainers').value[0];
    expect(init.args).toEqual(expect.arrayContaining(['--exclude-outbound-ports=5432', '--exclude-inbound-ports=9090']));
    expect(deployment.spec.template.spec.containers.map((c: Doc) => c.name)).toEqual(['catalog']);
  });
});
