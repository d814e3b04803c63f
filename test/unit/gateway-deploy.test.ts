// The files users apply for an edge gateway (deploy/gateway/) and for an application with a
// sidecar (deploy/examples/): shapes, selectors that match the pods' labels, probes on the
// ports the bootstrap listens on, and bootstrap ConfigMaps equal to envoy/*.yaml.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { DEFAULT_TRANSLATE_OPTIONS } from '../../src/translate/index.js';

type Doc = Record<string, any>;

function folder(dir: string): { kustomization: Doc; objects: Doc[] } {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  const read = (file: string) =>
    YAML.parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((doc) => {
      if (doc.errors.length) throw new Error(`${dir}/${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as Doc;
    });
  const [kustomization] = read('kustomization.yaml');
  for (const file of kustomization.resources) expect([file, existsSync(path.join(dir, file))]).toEqual([file, true]);
  // Every file in the folder is installed by its kustomization.
  expect(files.filter((f) => f !== 'kustomization.yaml').sort()).toEqual([...kustomization.resources].sort());
  return { kustomization, objects: kustomization.resources.flatMap(read) };
}

function one(objects: Doc[], kind: string, name?: string): Doc {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect([kind, found.length]).toEqual([kind, 1]);
  return found[0];
}

/** The pod mounts the workload certificate from csi-driver-spiffe where the bootstrap's file-based SDS
 * watches, ships the SDS files in the bootstrap ConfigMap, and names its node <pod>~<namespace>~<service-account>. */
function expectWorkloadCertificate(container: Doc, pod: Doc, configMap: Doc): void {
  const volume = pod.spec.volumes.find((v: Doc) => v.csi?.driver === 'spiffe.csi.cert-manager.io');
  expect(volume?.csi.readOnly).toBe(true);
  expect(container.volumeMounts.find((m: Doc) => m.name === volume.name)).toMatchObject({
    mountPath: '/var/run/secrets/spiffe.io',
    readOnly: true,
  });
  for (const file of ['workload-certificate.yaml', 'trust-bundle.yaml']) {
    expect([file, YAML.parse(configMap.data[file] ?? 'null')]).toEqual([file, YAML.parse(readFileSync(`envoy/${file}`, 'utf8'))]);
  }
  expect(container.args[container.args.indexOf('--service-node') + 1]).toBe('$(POD_NAME)~$(POD_NAMESPACE)~$(SERVICE_ACCOUNT)');
  const env = Object.fromEntries(container.env.map((e: Doc) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  expect(env).toMatchObject({ POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace', SERVICE_ACCOUNT: 'spec.serviceAccountName' });
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function bootstrapPorts(text: string): { health: number; admin: number; node: Doc } {
  const bootstrap = YAML.parse(text);
  const health = bootstrap.static_resources.listeners.find((l: Doc) => l.name === 'health');
  return {
    health: health.address.socket_address.port_value,
    admin: bootstrap.admin.address.socket_address.port_value,
    node: bootstrap.node,
  };
}

describe('deploy/gateway', () => {
  const { kustomization, objects } = folder('deploy/gateway');
  const deployment = one(objects, 'Deployment', 'edge-gateway');
  const pod = deployment.spec.template;
  const [envoy] = pod.spec.containers;
  const containerPorts = Object.fromEntries(envoy.ports.map((p: Doc) => [p.name, p.containerPort]));

  it('puts every object in the gateway namespace', () => {
    expect(kustomization.namespace).toBe('switchyard-gateway');
    expect(one(objects, 'Namespace').metadata.name).toBe('switchyard-gateway');
    for (const object of objects.filter((o) => o.kind !== 'Namespace'))
      expect([object.kind, object.metadata.namespace]).toEqual([object.kind, 'switchyard-gateway']);
  });

  it('runs Envoy with the bootstrap ConfigMap, which is envoy/gateway.yaml', () => {
    expect(envoy.image).toBe('envoyproxy/envoy:v1.31-latest');
    expect(deployment.spec.selector.matchLabels).toBeDefined();
    expect(selects(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    const configMap = one(objects, 'ConfigMap');
    const volume = pod.spec.volumes.find((v: Doc) => v.configMap?.name === configMap.metadata.name);
    const mount = envoy.volumeMounts.find((m: Doc) => m.name === volume.name);
    const file = envoy.args[envoy.args.indexOf('-c') + 1];
    expect(path.dirname(file)).toBe(mount.mountPath);
    const text = configMap.data[path.basename(file)];
    expect(YAML.parse(text)).toEqual(YAML.parse(readFileSync('envoy/gateway.yaml', 'utf8')));
    expect(bootstrapPorts(text).node.metadata).toEqual({
      'switchyard.dev/role': 'gateway',
      'switchyard.dev/gateway': pod.metadata.labels['switchyard.dev/gateway'],
    });
    expectWorkloadCertificate(envoy, pod, configMap);
    expect(pod.spec.serviceAccountName).toBe(one(objects, 'ServiceAccount').metadata.name);
  });

  it('listens where the control plane puts gateway listeners, and probes /ready on the health listener', () => {
    expect(containerPorts.http).toBe(DEFAULT_TRANSLATE_OPTIONS.gatewayHttpPort);
    expect(containerPorts.https).toBe(DEFAULT_TRANSLATE_OPTIONS.gatewayHttpsPort);
    const { health } = bootstrapPorts(readFileSync('envoy/gateway.yaml', 'utf8'));
    expect(containerPorts.health).toBe(health);
    expect(envoy.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'health' });
    expect(envoy.livenessProbe.httpGet).toEqual({ path: '/ready', port: 'health' });
    expect(envoy.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(envoy.resources.limits).toMatchObject({ memory: expect.any(String) });
    expect(pod.spec.topologySpreadConstraints.map((c: Doc) => c.topologyKey)).toContain('topology.kubernetes.io/zone');
    for (const constraint of pod.spec.topologySpreadConstraints)
      expect(selects(constraint.labelSelector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(envoy.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('exposes 80 and 443 on a LoadBalancer Service, with a PDB and an HPA for the same pods', () => {
    const service = one(objects, 'Service');
    expect(service.spec.type).toBe('LoadBalancer');
    expect(selects(service.spec.selector, pod.metadata.labels)).toBe(true);
    expect(service.spec.ports.map((p: Doc) => [p.port, containerPorts[p.targetPort]])).toEqual([
      [80, DEFAULT_TRANSLATE_OPTIONS.gatewayHttpPort],
      [443, DEFAULT_TRANSLATE_OPTIONS.gatewayHttpsPort],
    ]);
    const pdb = one(objects, 'PodDisruptionBudget');
    expect(selects(pdb.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(pdb.spec.minAvailable).toBe(1);
    const hpa = one(objects, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThan(pdb.spec.minAvailable);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
  });
});

describe('deploy/examples', () => {
  const { objects } = folder('deploy/examples');
  const deployment = one(objects, 'Deployment', 'frontend');
  const pod = deployment.spec.template;

  it('runs the application with an Envoy sidecar whose bootstrap is envoy/sidecar.yaml', () => {
    expect(selects(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    const sidecar = pod.spec.containers.find((c: Doc) => c.name === 'envoy');
    expect(sidecar.image).toBe('envoyproxy/envoy:v1.31-latest');
    const configMap = one(objects, 'ConfigMap');
    const volume = pod.spec.volumes.find((v: Doc) => v.configMap?.name === configMap.metadata.name);
    const mount = sidecar.volumeMounts.find((m: Doc) => m.name === volume.name);
    const file = sidecar.args[sidecar.args.indexOf('-c') + 1];
    expect(path.dirname(file)).toBe(mount.mountPath);
    const text = configMap.data[path.basename(file)];
    expect(YAML.parse(text)).toEqual(YAML.parse(readFileSync('envoy/sidecar.yaml', 'utf8')));
    const health = sidecar.ports.find((p: Doc) => p.name === sidecar.readinessProbe.httpGet.port);
    expect(health.containerPort).toBe(bootstrapPorts(text).health);
    expectWorkloadCertificate(sidecar, pod, configMap);
    // Not pointed at the sidecar as a proxy: the outbound listener closes connections made to it
    // directly (they are captured instead).
    const app = pod.spec.containers.find((c: Doc) => c.name !== 'envoy');
    expect((app.env ?? []).map((e: Doc) => e.name)).not.toContain('HTTP_PROXY');
  });

  it('has a Service that selects the pods and reaches the application port', () => {
    const service = one(objects, 'Service', 'frontend');
    expect(selects(service.spec.selector, pod.metadata.labels)).toBe(true);
    const app = pod.spec.containers.find((c: Doc) => c.name !== 'envoy');
    expect(app.ports.map((p: Doc) => p.containerPort)).toContain(service.spec.ports[0].targetPort);
  });
});
