// The injection webhook's decisions, as pure functions of an AdmissionReview (admission.k8s.io/v1):
// whether a pod gets the sidecar, and the JSON patch that adds it. The HTTPS server (server.ts)
// only moves bytes.
//
// Which pods reach us is decided by the MutatingWebhookConfiguration (deploy/injection.yaml), since
// an AdmissionReview carries the pod but not its namespace's labels:
// - path /inject/namespace: the namespace is labelled switchyard.dev/inject=enabled (its
//   namespaceSelector did that); every pod is injected unless it opts out;
// - path /inject/pod: any other namespace; only a pod that opts in (annotation or label
//   switchyard.dev/inject: "true") is injected.
// Whatever the configuration sends, some pods are always left alone: the skipped namespaces
// (kube-system, the control plane's own), host-network pods (their "network namespace" is the
// node's), and pods that already have the sidecar.
import { parseCidrList, parsePortList, type CaptureSettings } from './capture.js';
import {
  CAPTURE_CONTAINER,
  captureContainer,
  PROXY_CONTAINER,
  proxyContainer,
  proxyVolumes,
  sdsAnnotations,
  type SidecarSettings,
} from './sidecar.js';

export const ANNOTATIONS = {
  inject: 'switchyard.dev/inject',
  injected: 'switchyard.dev/injected',
  excludeOutboundPorts: 'switchyard.dev/exclude-outbound-ports',
  excludeOutboundCidrs: 'switchyard.dev/exclude-outbound-cidrs',
  excludeInboundPorts: 'switchyard.dev/exclude-inbound-ports',
} as const;

/** How the pod reached us: through the labelled-namespace webhook, or the per-pod opt-in one. */
export type InjectionScope = 'namespace' | 'pod';

export const SCOPE_PATHS: Record<string, InjectionScope> = { '/inject/namespace': 'namespace', '/inject/pod': 'pod' };

export interface InjectionSettings {
  sidecar: SidecarSettings;
  /** Ports, UID and proxy port range; the pod's annotations add exclusions. */
  capture: CaptureSettings;
  /** Namespaces never injected, whatever their labels say. */
  skipNamespaces: ReadonlySet<string>;
}

type Json = Record<string, unknown>;

const PORTS_FIX = 'comma-separated port numbers, e.g. "5432,6379"';
const CIDRS_FIX = 'comma-separated IPv4 addresses or CIDRs, e.g. "10.0.0.0/8,169.254.169.254"';

class AnnotationError extends Error {}

export type Decision =
  | { inject: true; capture: CaptureSettings }
  | { inject: false; reason: string }
  /** The pod asks for something we cannot do: refuse it with this message. */
  | { refuse: string };

function object(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function names(list: unknown): string[] {
  return Array.isArray(list) ? list.map((c) => String(object(c)?.name ?? '')) : [];
}

/** Whether a pod, admitted in `namespace` through `scope`, gets the sidecar, and with which capture exclusions. */
export function decide(pod: Json, namespace: string, scope: InjectionScope, settings: InjectionSettings): Decision {
  const metadata = object(pod.metadata) ?? {};
  const spec = object(pod.spec) ?? {};
  const annotations = object(metadata.annotations) ?? {};
  const labels = object(metadata.labels) ?? {};
  const podName = `pod ${namespace}/${String(metadata.name ?? metadata.generateName ?? '')}`;

  if (settings.skipNamespaces.has(namespace)) return { inject: false, reason: `namespace ${namespace} is never injected` };
  if (spec.hostNetwork === true) return { inject: false, reason: 'the pod uses the host network; capture would rewrite the node' };
  if (names(spec.containers).includes(PROXY_CONTAINER) || names(spec.initContainers).includes(CAPTURE_CONTAINER)) {
    return { inject: false, reason: 'the pod already has the sidecar' };
  }

  // The annotation wins over the label; both say "true" or "false".
  const said = annotations[ANNOTATIONS.inject] ?? labels[ANNOTATIONS.inject];
  if (said !== undefined && said !== 'true' && said !== 'false') {
    return {
      refuse: `${podName}: ${ANNOTATIONS.inject} is "${String(said)}"; write "true" to inject the sidecar or "false" to leave the pod out`,
    };
  }
  if (said === 'false') return { inject: false, reason: `the pod opts out (${ANNOTATIONS.inject}: "false")` };
  if (scope === 'pod' && said !== 'true') return { inject: false, reason: 'neither the namespace nor the pod opts in' };

  // The pod's exclusions add to the defaults.
  const read = <T>(annotation: string, parse: (text: string) => T[], fix: string): T[] => {
    const text = annotations[annotation];
    if (text === undefined) return [];
    try {
      return parse(String(text));
    } catch (error) {
      throw new AnnotationError(`${podName}: annotation ${annotation}: ${(error as Error).message}; write ${fix}`);
    }
  };
  const union = <T>(a: T[], b: T[]) => [...new Set([...a, ...b])];
  const base = settings.capture;
  try {
    const capture: CaptureSettings = {
      ...base,
      excludeOutboundPorts: union(base.excludeOutboundPorts, read(ANNOTATIONS.excludeOutboundPorts, parsePortList, PORTS_FIX)),
      excludeInboundPorts: union(base.excludeInboundPorts, read(ANNOTATIONS.excludeInboundPorts, parsePortList, PORTS_FIX)),
      excludeOutboundCidrs: union(base.excludeOutboundCidrs, read(ANNOTATIONS.excludeOutboundCidrs, parseCidrList, CIDRS_FIX)),
    };
    return { inject: true, capture };
  } catch (error) {
    if (error instanceof AnnotationError) return { refuse: error.message };
    throw error;
  }
}

/** A JSON pointer segment: `/` and `~` escaped (RFC 6901). */
function pointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

export interface JsonPatchOperation {
  op: 'add';
  path: string;
  value: unknown;
}

/** The JSON patch (RFC 6902) that adds the sidecar to `pod`: appended after the pod's own containers. */
export function injectionPatch(pod: Json, capture: CaptureSettings, settings: InjectionSettings): JsonPatchOperation[] {
  const spec = object(pod.spec) ?? {};
  const metadata = object(pod.metadata) ?? {};
  const patch: JsonPatchOperation[] = [];
  // Last among init containers: the pod's own init containers run before capture, with the network as they expect it.
  const init = captureContainer(settings.sidecar, capture);
  if (Array.isArray(spec.initContainers)) patch.push({ op: 'add', path: '/spec/initContainers/-', value: init });
  else patch.push({ op: 'add', path: '/spec/initContainers', value: [init] });
  patch.push({ op: 'add', path: '/spec/containers/-', value: proxyContainer(settings.sidecar, capture) });
  const volumes = proxyVolumes(settings.sidecar);
  if (Array.isArray(spec.volumes)) for (const volume of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: volume });
  else if (volumes.length > 0) patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  const annotations = { [ANNOTATIONS.injected]: 'true', ...sdsAnnotations(settings.sidecar) };
  if (object(metadata.annotations)) {
    for (const [key, value] of Object.entries(annotations)) patch.push({ op: 'add', path: `/metadata/annotations/${pointer(key)}`, value });
  } else {
    patch.push({ op: 'add', path: '/metadata/annotations', value: annotations });
  }
  return patch;
}

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionAnswer {
  /** HTTP status: 200 with an AdmissionReview, or 400 when the body is no AdmissionReview we can answer. */
  status: number;
  body: Json;
}

function reviewResponse(response: Json): AdmissionAnswer {
  return { status: 200, body: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response } };
}

function badRequest(message: string): AdmissionAnswer {
  return { status: 400, body: { error: `not an AdmissionReview this webhook can answer: ${message}` } };
}

/**
 * The answer to one AdmissionReview body (already parsed JSON, or the parse error's text).
 * A review we cannot read at all gets HTTP 400 with what is wrong (the API server then applies
 * the webhook's failurePolicy); a review of something we do not inject is allowed unchanged, with
 * a warning when it is not even a pod; a pod we inject is allowed with the patch.
 */
export function answerReview(body: unknown, scope: InjectionScope, settings: InjectionSettings): AdmissionAnswer {
  const review = object(body);
  if (!review) return badRequest('the body is not a JSON object');
  if (review.apiVersion !== ADMISSION_API_VERSION || review.kind !== 'AdmissionReview') {
    return badRequest(
      `apiVersion/kind is ${String(review.apiVersion)}/${String(review.kind)}, expected ${ADMISSION_API_VERSION}/AdmissionReview (set admissionReviewVersions: ["v1"])`,
    );
  }
  const request = object(review.request);
  if (!request || typeof request.uid !== 'string' || request.uid === '') return badRequest('request.uid is missing');
  const uid = request.uid;
  const allow = (extra: Json = {}) => reviewResponse({ uid, allowed: true, ...extra });

  const kind = object(request.kind);
  const pod = object(request.object);
  if (kind?.kind !== 'Pod' || (kind.group ?? '') !== '' || !pod) {
    return allow({
      warnings: [`switchyard injection: expected a Pod in request.object, got ${String(kind?.kind ?? 'nothing')}; left unchanged`],
    });
  }
  if (request.operation !== 'CREATE') return allow();
  const namespace = String(request.namespace ?? object(pod.metadata)?.namespace ?? 'default');
  const decision = decide(pod, namespace, scope, settings);
  if ('refuse' in decision) return reviewResponse({ uid, allowed: false, status: { code: 400, message: decision.refuse } });
  if (!decision.inject) return allow();
  const patch = injectionPatch(pod, decision.capture, settings);
  return allow({ patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
}
