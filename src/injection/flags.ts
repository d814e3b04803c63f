// Flags of `switchyard capture` (the init container's command) and of the injection webhook that
// `serve --kubernetes --injection` runs, and what their values become.
import { UsageError, type FlagSpec, type FlagValues } from '../cli/flags.js';
import { DEFAULT_CAPTURE, parseCidrList, parsePortList, type CaptureSettings } from './capture.js';
import type { InjectionSettings } from './admission.js';

const port = (name: string, value: number, help: string): FlagSpec => ({ name, type: 'int', default: value, min: 1, max: 65535, help });

export const CAPTURE_FLAGS: FlagSpec[] = [
  {
    name: 'apply',
    type: 'boolean',
    default: false,
    help: 'install the rules with iptables-restore (needs NET_ADMIN); without it they are printed',
  },
  port('outbound-port', DEFAULT_CAPTURE.outboundPort, "the proxy's outbound listener: captured outbound TCP goes here"),
  port('inbound-port', DEFAULT_CAPTURE.inboundPort, "the proxy's inbound listener: captured inbound TCP goes here"),
  {
    name: 'proxy-uid',
    type: 'int',
    default: DEFAULT_CAPTURE.proxyUid,
    min: 0,
    help: "the proxy's UID: its own connections are not captured",
  },
  { name: 'exclude-outbound-ports', type: 'list', default: [], help: 'outbound destination ports not captured' },
  { name: 'exclude-outbound-cidrs', type: 'list', default: [], help: 'outbound destination IPv4 CIDRs not captured' },
  {
    name: 'exclude-inbound-ports',
    type: 'list',
    default: [],
    help: `inbound ports not captured (besides ${DEFAULT_CAPTURE.proxyPortRange.join('-')})`,
  },
];

function list(values: FlagValues, key: string): string {
  return Array.isArray(values[key]) ? (values[key] as string[]).join(',') : '';
}

/** The capture settings from CAPTURE_FLAGS values; a bad port or CIDR is a UsageError naming the flag. */
export function captureSettings(values: FlagValues): CaptureSettings {
  const parse = <T>(flag: string, key: string, parser: (text: string) => T[]): T[] => {
    try {
      return parser(list(values, key));
    } catch (error) {
      throw new UsageError(`--${flag}: ${(error as Error).message}`);
    }
  };
  return {
    ...DEFAULT_CAPTURE,
    outboundPort: values.outboundPort as number,
    inboundPort: values.inboundPort as number,
    proxyUid: values.proxyUid as number,
    excludeOutboundPorts: parse('exclude-outbound-ports', 'excludeOutboundPorts', parsePortList),
    excludeOutboundCidrs: parse('exclude-outbound-cidrs', 'excludeOutboundCidrs', parseCidrList),
    excludeInboundPorts: parse('exclude-inbound-ports', 'excludeInboundPorts', parsePortList),
  };
}

export const INJECTION_FLAGS: FlagSpec[] = [
  {
    name: 'injection',
    type: 'boolean',
    default: false,
    help: 'serve the sidecar injection webhook (with --kubernetes; deploy/injection.yaml registers it)',
  },
  { name: 'injection-address', type: 'string', default: '127.0.0.1', help: 'address the injection webhook listens on (0.0.0.0 in a pod)' },
  { name: 'injection-port', type: 'int', default: 9443, min: 0, max: 65535, help: 'HTTPS port of the injection webhook' },
  {
    name: 'injection-cert-dir',
    type: 'string',
    default: '',
    defaultHelp: 'none: Switchyard makes a CA and certificate, keeps them in --injection-secret and patches the caBundle',
    help: "directory with the webhook's tls.crt and tls.key (a mounted kubernetes.io/tls Secret, e.g. from cert-manager); re-read when they change",
  },
  {
    name: 'injection-secret',
    type: 'string',
    default: 'switchyard-injection-tls',
    help: 'without --injection-cert-dir: the Secret (in the control plane namespace) holding the generated CA and certificate every replica serves',
  },
  {
    name: 'injection-service',
    type: 'string',
    default: 'switchyard-injection',
    help: 'the webhook Service (in the control plane namespace): the generated certificate is for its DNS names',
  },
  {
    name: 'injection-webhook-configuration',
    type: 'string',
    default: 'switchyard-injection',
    help: 'the MutatingWebhookConfiguration whose caBundle the leader keeps equal to the generated CA',
  },
  { name: 'injection-proxy-image', type: 'string', default: 'envoyproxy/envoy:v1.31-latest', help: 'Envoy image of the injected sidecar' },
  {
    name: 'injection-capture-image',
    type: 'string',
    default: 'switchyard:0.1.0',
    help: "image of the injected init container that runs 'switchyard capture --apply' (Switchyard's own)",
  },
  {
    name: 'injection-xds-address',
    type: 'string',
    default: 'switchyard.switchyard-system.svc:18000',
    help: 'host:port where injected sidecars reach the xDS server',
    check: (value) => (/^[^:\s]+:\d{1,5}$/.test(value) ? undefined : 'expected host:port'),
  },
  {
    name: 'injection-xds-identity',
    type: 'string',
    default: 'spiffe://cluster.local/ns/switchyard-system/sa/switchyard',
    help: "the SPIFFE ID the control plane's certificate carries: injected sidecars connect over mutual TLS and check it",
  },
  {
    name: 'injection-xds-plaintext',
    type: 'boolean',
    default: false,
    help: 'injected sidecars reach the control plane in plain text, with no certificate volume (only with a plain-text control plane: deploy/overlays/plaintext)',
  },
  {
    name: 'injection-skip-namespaces',
    type: 'list',
    default: ['kube-system', 'kube-public', 'kube-node-lease'],
    help: "namespaces never injected, whatever their labels (the control plane's own is always skipped)",
  },
];

export interface InjectionModeSettings {
  host: string;
  port: number;
  certDir?: string;
  secretName: string;
  serviceName: string;
  webhookConfiguration: string;
  settings: InjectionSettings;
}

/** The webhook's settings from INJECTION_FLAGS values; undefined when --injection is off. */
export function injectionModeSettings(values: FlagValues, controlPlaneNamespace: string): InjectionModeSettings | undefined {
  if (values.injection !== true) return undefined;
  const [xdsHost, xdsPort] = (values.injectionXdsAddress as string).split(':');
  const certDir = values.injectionCertDir as string;
  return {
    host: values.injectionAddress as string,
    port: values.injectionPort as number,
    certDir: certDir === '' ? undefined : certDir,
    secretName: values.injectionSecret as string,
    serviceName: values.injectionService as string,
    webhookConfiguration: values.injectionWebhookConfiguration as string,
    settings: {
      sidecar: {
        proxyImage: values.injectionProxyImage as string,
        captureImage: values.injectionCaptureImage as string,
        xdsHost,
        xdsPort: Number(xdsPort),
        ...(values.injectionXdsPlaintext === true ? {} : { xdsServerIdentity: values.injectionXdsIdentity as string }),
      },
      capture: DEFAULT_CAPTURE,
      skipNamespaces: new Set([...(values.injectionSkipNamespaces as string[]), controlPlaneNamespace]),
    },
  };
}
