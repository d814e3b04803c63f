// The `switchyard serve --kubernetes` flags and what they become: the Kubernetes source's
// options and the leader election's. cli/main.ts lists the flags; serve.ts turns the values into
// startKubernetesMode's options with kubernetesModeSettings. (--ingress-class is already a
// translate flag in cli/main.ts; its value is passed on to the source too.)
import { readFileSync } from 'node:fs';
import type { FlagSpec, FlagValues } from '../cli/flags.js';
import type { KubernetesSourceOptions } from './kubernetes.js';

export const KUBERNETES_FLAGS: FlagSpec[] = [
  {
    name: 'kubernetes',
    type: 'boolean',
    default: false,
    help: 'read Services, EndpointSlices, Ingresses, IngressClasses, TLS Secrets and TrafficPolicies from the Kubernetes API server instead of --manifests',
  },
  {
    name: 'kubeconfig',
    type: 'string',
    default: '',
    defaultHelp: "KUBECONFIG, ~/.kube/config, or the pod's service account",
    help: 'kubeconfig file',
  },
  { name: 'namespaces', type: 'list', default: [], defaultHelp: 'all', help: 'namespaces to read, comma-separated' },
  {
    name: 'label-selector',
    type: 'string',
    default: '',
    help: 'read only Services, Ingresses, Secrets and TrafficPolicies with these labels, e.g. mesh=on',
  },
  { name: 'write-status', type: 'boolean', default: true, help: 'write TrafficPolicy and Ingress status (only the elected leader writes)' },
  {
    name: 'ingress-status-service',
    type: 'string',
    default: '',
    help: "the gateway's Service, <namespace>/<name>: its address goes to status.loadBalancer of the Ingresses we serve",
  },
  {
    name: 'ingress-status-address',
    type: 'list',
    default: [],
    help: 'IPs or hostnames for status.loadBalancer of the Ingresses we serve, comma-separated (instead of --ingress-status-service)',
  },
  {
    name: 'lease-name',
    type: 'string',
    default: 'switchyard',
    help: 'name of the coordination.k8s.io Lease used to elect the status writer',
  },
  {
    name: 'lease-namespace',
    type: 'string',
    default: '',
    defaultHelp: "POD_NAMESPACE, the pod's own, else switchyard-system",
    help: 'namespace of the Lease',
  },
  { name: 'lease-duration-s', type: 'int', default: 15, min: 1, help: 'seconds a leader holds the Lease without renewing it' },
  {
    name: 'lease-renew-deadline-ms',
    type: 'int',
    default: 10000,
    min: 1,
    help: 'a leader that has not renewed for this long stops leading (less than the lease duration)',
  },
  {
    name: 'lease-retry-period-ms',
    type: 'int',
    default: 2000,
    min: 1,
    help: 'how often candidates try for the Lease and the leader renews it (less than the renew deadline)',
  },
];

const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The Lease's namespace when none is given: POD_NAMESPACE, else the pod's own (from its
 * service account), else switchyard-system (where deploy/ installs Switchyard). */
function defaultLeaseNamespace(): string {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    const namespace = readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim();
    if (namespace) return namespace;
  } catch {
    // Not in a pod.
  }
  return 'switchyard-system';
}

interface KubernetesModeSettings {
  source: KubernetesSourceOptions;
  lease: { name: string; namespace: string; leaseDurationSeconds: number; renewDeadlineMs: number; retryPeriodMs: number };
  writeStatus: boolean;
  /** Where the Ingress status address comes from; undefined writes no Ingress status. */
  ingressStatus?: { service?: string; addresses?: string[] };
}

/** Flag values (parsed with KUBERNETES_FLAGS) as the options of startKubernetesMode. */
export function kubernetesModeSettings(values: FlagValues): KubernetesModeSettings {
  const text = (key: string) => (typeof values[key] === 'string' && values[key] !== '' ? (values[key] as string) : undefined);
  return {
    source: {
      kubeconfigPath: text('kubeconfig'),
      namespaces: Array.isArray(values.namespaces) ? values.namespaces : [],
      labelSelector: text('labelSelector'),
      ingressClassName: text('ingressClass'),
    },
    lease: {
      name: text('leaseName') ?? 'switchyard',
      namespace: text('leaseNamespace') ?? defaultLeaseNamespace(),
      leaseDurationSeconds: (values.leaseDurationS as number | undefined) ?? 15,
      renewDeadlineMs: (values.leaseRenewDeadlineMs as number | undefined) ?? 10_000,
      retryPeriodMs: (values.leaseRetryPeriodMs as number | undefined) ?? 2_000,
    },
    writeStatus: values.writeStatus !== false,
    ...ingressStatusSettings(text('ingressStatusService'), Array.isArray(values.ingressStatusAddress) ? values.ingressStatusAddress : []),
  };
}

function ingressStatusSettings(service: string | undefined, addresses: string[]): Pick<KubernetesModeSettings, 'ingressStatus'> {
  const given = addresses.filter((a) => a.trim() !== '');
  if (given.length > 0) return { ingressStatus: { addresses: given } };
  return service ? { ingressStatus: { service } } : {};
}
