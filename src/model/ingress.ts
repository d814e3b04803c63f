// The Ingress and IngressClass processors: an Ingress becomes its hosts, normalized paths
// (Kubernetes path semantics), backend references, TLS entries and HTTPS redirects, with the
// field path of each part for problems; backends are resolved against the current Services on
// read. Which Ingresses are ours (their class) is decided here too: the analysis and the
// gateway translator both ask it.
import type { IngressBackend, IngressClassObject, IngressObject } from '../sources/types.js';
import { objectKey } from './keys.js';
import type {
  IngressBackendRef,
  IngressClassInfo,
  IngressInfo,
  IngressPath,
  IngressTls,
  ResolvedIngressBackend,
  ServiceInfo,
  ServicePortInfo,
} from './types.js';

const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
/** The pre-IngressClass way of naming a class, still common in manifests. */
const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
/** Comma-separated gateway names an Ingress is served by; without it, every gateway serves it. */
const GATEWAY_ANNOTATION = 'switchyard.dev/gateway';
/** "true": plain-HTTP requests for the Ingress's TLS hosts are redirected to HTTPS. */
const SSL_REDIRECT_ANNOTATION = 'switchyard.dev/ssl-redirect';

/** The Ingress class served when no setting names another. */
export const DEFAULT_INGRESS_CLASS = 'switchyard';
/** The controller an IngressClass names (`spec.controller`) to hand its Ingresses to Switchyard. */
export const INGRESS_CONTROLLER = 'switchyard.dev/ingress-controller';

/** What deciding ownership reads of the model. */
interface IngressClasses {
  ingressClassInfos(): IngressClassInfo[];
}

/** The Ingress class names that are ours: the configured one, and every IngressClass naming our controller. */
export function ourIngressClasses(model: IngressClasses, ingressClass: string): Set<string> {
  const classes = new Set([ingressClass]);
  for (const info of model.ingressClassInfos()) {
    if (info.controller === INGRESS_CONTROLLER) classes.add(info.name);
  }
  return classes;
}

/** Whether Switchyard serves this Ingress: its class is ours, or it has none and one of our classes is the cluster default. */
export function isOurIngress(
  model: IngressClasses,
  ingress: IngressInfo,
  ingressClass: string,
  classes = ourIngressClasses(model, ingressClass),
): boolean {
  if (ingress.className !== undefined) return classes.has(ingress.className);
  return model.ingressClassInfos().some((c) => classes.has(c.name) && c.isDefault);
}

export function ingressClassInfo(object: IngressClassObject): IngressClassInfo {
  return {
    name: object.metadata.name,
    controller: object.spec?.controller ?? '',
    isDefault: object.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true',
  };
}

export function ingressInfo(object: IngressObject): IngressInfo {
  const namespace = object.metadata.namespace ?? 'default';
  const key = objectKey(namespace, object.metadata.name);
  const where = `Ingress ${key}`;
  const annotations = object.metadata.annotations ?? {};
  const spec = object.spec ?? {};
  const serviceKeys: string[] = [];
  const ref = (backend: IngressBackend | undefined, field: string): IngressBackendRef => {
    const result = backendRef(namespace, backend, where, field);
    if (result.kind === 'service') serviceKeys.push(result.serviceKey);
    return result;
  };
  const tls: IngressTls[] = (spec.tls ?? []).map((entry, index) => ({
    where: `${where}: spec.tls[${index}]`,
    secretName: entry.secretName ?? '',
    hosts: [...(entry.hosts ?? [])],
  }));
  const sslRedirect = annotations[SSL_REDIRECT_ANNOTATION] === 'true';
  const rules = (spec.rules ?? []).map((rule, ruleIndex) => {
    const host = rule.host ?? '*';
    return {
      host,
      httpsRedirect: sslRedirect && host !== '*' && tls.some((entry) => entry.secretName && hostCoveredBy(host, entry.hosts)),
      paths: (rule.http?.paths ?? []).map((entry, pathIndex) => {
        const field = `${where}: spec.rules[${ruleIndex}].http.paths[${pathIndex}]`;
        const bad = entry.path !== undefined && /[?#]/.test(entry.path);
        return {
          where: field,
          routeName: `${key}/rules/${ruleIndex}/paths/${pathIndex}`,
          ruleIndex,
          pathIndex,
          path: bad
            ? {
                ok: false as const,
                error: `${field}.path: "${entry.path}" contains ? or #, which never occur in a request path; path left out`,
              }
            : { ok: true as const, value: ingressPath(entry.path, entry.pathType) },
          backend: ref(entry.backend, `spec.rules[${ruleIndex}].http.paths[${pathIndex}].backend`),
        };
      }),
    };
  });
  const gatewayNames = annotations[GATEWAY_ANNOTATION];
  const className = spec.ingressClassName ?? annotations[LEGACY_CLASS_ANNOTATION];
  return {
    key,
    namespace,
    name: object.metadata.name,
    ...(className !== undefined ? { className } : {}),
    ...(gatewayNames !== undefined && gatewayNames.trim() !== '' ? { gateways: gatewayNames.split(',').map((name) => name.trim()) } : {}),
    rules,
    ...(spec.defaultBackend
      ? {
          defaultBackend: {
            where: `${where}: spec.defaultBackend`,
            routeName: `${key}/defaultBackend`,
            backend: ref(spec.defaultBackend, 'spec.defaultBackend'),
          },
        }
      : {}),
    tls,
    serviceKeys,
  };
}

/**
 * Kubernetes path semantics: Exact is the whole path; Prefix matches element-wise (`/foo`
 * matches `/foo` and `/foo/bar`, not `/foobar`, and a trailing slash is ignored), which is what
 * Envoy's `path_separated_prefix` does. ImplementationSpecific is served as Prefix.
 */
function ingressPath(path: string | undefined, pathType: string): IngressPath {
  const raw = path && path !== '' ? path : '/';
  if (pathType === 'Exact') return { exact: true, path: raw };
  const trimmed = raw.replace(/\/+$/, '');
  return { exact: false, path: trimmed === '' ? '/' : trimmed };
}

/** Whether a TLS entry's hosts cover `host` (no hosts: every host; `*.example.com`: one label deep). */
function hostCoveredBy(host: string, tlsHosts: readonly string[]): boolean {
  if (tlsHosts.length === 0) return true;
  return tlsHosts.some(
    (tlsHost) =>
      tlsHost === host ||
      (tlsHost.startsWith('*.') &&
        !host.startsWith('*') &&
        host.endsWith(tlsHost.slice(1)) &&
        !host.slice(0, -tlsHost.length + 1).includes('.')),
  );
}

function backendRef(namespace: string, backend: IngressBackend | undefined, label: string, field: string): IngressBackendRef {
  if (!backend?.service) {
    const resourceKind = backend?.resource?.kind;
    return { label, field, kind: 'unsupported', ...(resourceKind ? { resourceKind } : {}) };
  }
  const { name, port } = backend.service;
  return {
    label,
    field,
    kind: 'service',
    serviceKey: objectKey(namespace, name),
    namespace,
    name,
    port: { ...(port?.number !== undefined ? { number: port.number } : {}), ...(port?.name !== undefined ? { name: port.name } : {}) },
  };
}

/** The Service and port a backend names, given the current Services, or what is wrong with it (led by the backend's field). */
export function resolveIngressBackend(
  backend: IngressBackendRef,
  lookup: (key: string) => ServiceInfo | undefined,
): ResolvedIngressBackend {
  const where = backend.field;
  if (backend.kind === 'unsupported') {
    const kind = backend.resourceKind;
    return { ok: false, error: `${where}: ${kind ? `resource backends (${kind}) are not supported` : 'no backend'}; name a Service` };
  }
  const { namespace, name, port } = backend;
  const service = lookup(backend.serviceKey);
  if (!service) return { ok: false, error: `${where}.service.name: Service ${namespace}/${name} not found` };
  let servicePort: ServicePortInfo | undefined;
  if (port.number !== undefined) servicePort = service.ports.find((p) => p.port === port.number);
  else if (port.name !== undefined) servicePort = service.ports.find((p) => p.name === port.name);
  else if (service.ports.length === 1) servicePort = service.ports[0];
  if (!servicePort) {
    const wanted = port.number ?? (port.name !== undefined ? `"${port.name}"` : '(none given)');
    const have = service.ports.map((p) => (p.name ? `${p.port} (${p.name})` : String(p.port))).join(', ') || 'none';
    return { ok: false, error: `${where}.service.port: Service ${namespace}/${name} has no TCP port ${wanted}; its ports: ${have}` };
  }
  return { ok: true, service, port: servicePort };
}
