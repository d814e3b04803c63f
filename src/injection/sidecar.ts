// What injection adds to a pod: the Envoy sidecar container, whose whole bootstrap travels in its
// arguments (`--config-yaml`), and the init container that installs the capture rules. The pod's
// identity is not known when the pod is admitted (a Deployment's pod has no name yet, no IP), so
// the bootstrap names it with $(VAR) references that the kubelet expands from downward-API
// environment variables when it starts the container.
//
// The sidecar reaches the control plane over mutual TLS with the workload certificate that
// cert-manager's csi-driver-spiffe writes into the pod (the CSI volume added here), read through
// file-based SDS exactly as envoy/sidecar.yaml does. The two SDS files travel as pod annotations
// that a downward-API volume turns into files, so nothing but the pod itself is needed.
import type { CaptureSettings } from './capture.js';

/** The node metadata keys a sidecar carries (what the control plane reads to find its workload). */
export const NODE_METADATA = {
  role: 'switchyard.dev/role',
  namespace: 'switchyard.dev/namespace',
  pod: 'switchyard.dev/pod',
  podIp: 'switchyard.dev/pod-ip',
  serviceAccount: 'switchyard.dev/service-account',
} as const;

export const PROXY_CONTAINER = 'switchyard-proxy';
export const CAPTURE_CONTAINER = 'switchyard-capture';

/** Ports of the sidecar's own listeners (inside the range capture leaves alone). */
export const PROXY_ADMIN_PORT = 15000;
export const PROXY_HEALTH_PORT = 15021;

export interface SidecarSettings {
  /** The Envoy image. */
  proxyImage: string;
  /** The image holding `switchyard capture` and iptables (Switchyard's own). */
  captureImage: string;
  /** Where the sidecar reaches the xDS server. */
  xdsHost: string;
  xdsPort: number;
  /**
   * Mutual TLS to the control plane: the SPIFFE ID its certificate must carry. Undefined only for
   * the plain-text control plane (the explicit opt-out): then no certificate volume either.
   */
  xdsServerIdentity?: string;
}

/** The node id of every proxy we ship: the control plane's `spiffe` identity rule reads the last two parts. */
export const NODE_ID = '$(POD_NAME)~$(POD_NAMESPACE)~$(SERVICE_ACCOUNT)';

/** Where the workload certificate (tls.crt, tls.key, ca.crt) is mounted, as in envoy/sidecar.yaml. */
export const SPIFFE_DIR = '/var/run/secrets/spiffe.io';
/** Where the two file-based SDS files are mounted, as in envoy/sidecar.yaml. */
export const SDS_DIR = '/etc/envoy';
export const SDS_FILES = { workloadCertificate: 'workload-certificate.yaml', trustBundle: 'trust-bundle.yaml' } as const;
/** The SDS secret names, as envoy/workload-certificate.yaml and envoy/trust-bundle.yaml call them. */
export const SDS_SECRETS = { workloadCertificate: 'workload-certificate', trustBundle: 'trust-bundle' } as const;
/** Pod annotations carrying the SDS files' text (the downward-API volume reads them). */
export const SDS_ANNOTATIONS = {
  workloadCertificate: 'switchyard.dev/sds-workload-certificate',
  trustBundle: 'switchyard.dev/sds-trust-bundle',
} as const;
export const SPIFFE_VOLUME = 'switchyard-spiffe';
export const SDS_VOLUME = 'switchyard-sds';

const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** The file-based SDS file of the workload certificate (envoy/workload-certificate.yaml's content). */
export function workloadCertificateSds(): Record<string, unknown> {
  return {
    resources: [
      {
        '@type': SECRET_TYPE,
        name: SDS_SECRETS.workloadCertificate,
        tls_certificate: {
          certificate_chain: { filename: `${SPIFFE_DIR}/tls.crt` },
          private_key: { filename: `${SPIFFE_DIR}/tls.key` },
        },
      },
    ],
  };
}

/** The file-based SDS file of the trust bundle: the CA only, no peer pinned (envoy/trust-bundle.yaml's content). */
export function trustBundleSds(): Record<string, unknown> {
  return {
    resources: [
      {
        '@type': SECRET_TYPE,
        name: SDS_SECRETS.trustBundle,
        validation_context: { trusted_ca: { filename: `${SPIFFE_DIR}/ca.crt` } },
      },
    ],
  };
}

/** A secret read through file-based SDS, reloaded when csi-driver-spiffe moves new files in. */
function fileSdsConfig(name: string, file: string): Record<string, unknown> {
  return {
    name,
    sds_config: { resource_api_version: 'V3', path_config_source: { path: `${SDS_DIR}/${file}`, watched_directory: { path: SPIFFE_DIR } } },
  };
}

/** The xds_cluster's mutual-TLS transport socket: the workload certificate, and the control plane's identity checked. */
function controlPlaneTls(sni: string, serverIdentity: string): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [fileSdsConfig(SDS_SECRETS.workloadCertificate, SDS_FILES.workloadCertificate)],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: serverIdentity } }] },
          validation_context_sds_secret_config: fileSdsConfig(SDS_SECRETS.trustBundle, SDS_FILES.trustBundle),
        },
      },
    },
  };
}

/** Downward-API variables the bootstrap refers to; the kubelet fills them when the container starts. */
const IDENTITY_ENV = [
  { name: 'POD_NAME', fieldPath: 'metadata.name' },
  { name: 'POD_NAMESPACE', fieldPath: 'metadata.namespace' },
  { name: 'POD_IP', fieldPath: 'status.podIP' },
  { name: 'SERVICE_ACCOUNT', fieldPath: 'spec.serviceAccountName' },
] as const;

/**
 * The sidecar's Envoy bootstrap, in the same shape as envoy/sidecar.yaml (a test keeps them equal
 * apart from the node), with the node's identity as $(VAR) references: node id NODE_ID
 * (`<pod>~<namespace>~<service-account>`), cluster `<namespace>`, and the metadata keys of
 * NODE_METADATA. Mutual TLS to the control plane unless `xdsServerIdentity` is unset.
 */
export function sidecarBootstrap(settings: Pick<SidecarSettings, 'xdsHost' | 'xdsPort' | 'xdsServerIdentity'>): Record<string, unknown> {
  const socket = (address: string, port: number) => ({ socket_address: { address, port_value: port } });
  const staticCluster = (name: string, address: string, port: number) => ({
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: socket(address, port) } }] }],
  });
  return {
    node: {
      id: NODE_ID,
      cluster: '$(POD_NAMESPACE)',
      metadata: {
        [NODE_METADATA.role]: 'sidecar',
        [NODE_METADATA.namespace]: '$(POD_NAMESPACE)',
        [NODE_METADATA.pod]: '$(POD_NAME)',
        [NODE_METADATA.podIp]: '$(POD_IP)',
        [NODE_METADATA.serviceAccount]: '$(SERVICE_ACCOUNT)',
      },
    },
    admin: { address: socket('127.0.0.1', PROXY_ADMIN_PORT) },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      listeners: [
        {
          name: 'health',
          address: socket('0.0.0.0', PROXY_HEALTH_PORT),
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'health',
                    route_config: {
                      name: 'health',
                      virtual_hosts: [
                        { name: 'health', domains: ['*'], routes: [{ match: { path: '/ready' }, route: { cluster: 'envoy_admin' } }] },
                      ],
                    },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'xds_cluster',
          type: 'STRICT_DNS',
          connect_timeout: '5s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '30s', timeout: '5s' } } },
            },
          },
          ...(settings.xdsServerIdentity !== undefined
            ? { transport_socket: controlPlaneTls(settings.xdsHost, settings.xdsServerIdentity) }
            : {}),
          load_assignment: staticCluster('xds_cluster', settings.xdsHost, settings.xdsPort),
        },
        {
          name: 'envoy_admin',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: staticCluster('envoy_admin', '127.0.0.1', PROXY_ADMIN_PORT),
        },
      ],
    },
  };
}

/** The Envoy container: runs as the proxy UID (which capture leaves alone), bootstrap inline. */
export function proxyContainer(settings: SidecarSettings, capture: CaptureSettings): Record<string, unknown> {
  return {
    name: PROXY_CONTAINER,
    image: settings.proxyImage,
    command: ['envoy'],
    // JSON is YAML; the kubelet replaces each $(VAR) before Envoy sees it.
    args: ['--config-yaml', JSON.stringify(sidecarBootstrap(settings)), '--log-level', 'warn'],
    env: IDENTITY_ENV.map(({ name, fieldPath }) => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } })),
    ports: [{ name: 'proxy-health', containerPort: PROXY_HEALTH_PORT, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/ready', port: PROXY_HEALTH_PORT }, periodSeconds: 5 },
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    ...(settings.xdsServerIdentity !== undefined
      ? {
          volumeMounts: [
            { name: SDS_VOLUME, mountPath: SDS_DIR, readOnly: true },
            { name: SPIFFE_VOLUME, mountPath: SPIFFE_DIR, readOnly: true },
          ],
        }
      : {}),
    securityContext: {
      runAsUser: capture.proxyUid,
      runAsGroup: capture.proxyUid,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/**
 * The pod volumes the proxy mounts under mutual TLS: the workload certificate from csi-driver-spiffe,
 * and the SDS files from the pod's annotations (sdsAnnotations). None in plain text.
 */
export function proxyVolumes(settings: SidecarSettings): Array<Record<string, unknown>> {
  if (settings.xdsServerIdentity === undefined) return [];
  const file = (path: string, annotation: string) => ({
    path,
    fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${annotation}']` },
  });
  return [
    { name: SPIFFE_VOLUME, csi: { driver: 'spiffe.csi.cert-manager.io', readOnly: true } },
    {
      name: SDS_VOLUME,
      downwardAPI: {
        items: [
          file(SDS_FILES.workloadCertificate, SDS_ANNOTATIONS.workloadCertificate),
          file(SDS_FILES.trustBundle, SDS_ANNOTATIONS.trustBundle),
        ],
      },
    },
  ];
}

/** The pod annotations that hold the SDS files' text (JSON is YAML); none in plain text. */
export function sdsAnnotations(settings: SidecarSettings): Record<string, string> {
  if (settings.xdsServerIdentity === undefined) return {};
  return {
    [SDS_ANNOTATIONS.workloadCertificate]: JSON.stringify(workloadCertificateSds()),
    [SDS_ANNOTATIONS.trustBundle]: JSON.stringify(trustBundleSds()),
  };
}

/** The capture arguments as `switchyard capture` flags: what the init container runs. */
export function captureArguments(capture: CaptureSettings): string[] {
  const args = [
    'capture',
    '--apply',
    `--outbound-port=${capture.outboundPort}`,
    `--inbound-port=${capture.inboundPort}`,
    `--proxy-uid=${capture.proxyUid}`,
  ];
  if (capture.excludeOutboundPorts.length > 0) args.push(`--exclude-outbound-ports=${capture.excludeOutboundPorts.join(',')}`);
  if (capture.excludeOutboundCidrs.length > 0) args.push(`--exclude-outbound-cidrs=${capture.excludeOutboundCidrs.join(',')}`);
  if (capture.excludeInboundPorts.length > 0) args.push(`--exclude-inbound-ports=${capture.excludeInboundPorts.join(',')}`);
  return args;
}

/** The init container: root with NET_ADMIN and NET_RAW only, for iptables-restore in the pod's namespace. */
export function captureContainer(settings: SidecarSettings, capture: CaptureSettings): Record<string, unknown> {
  return {
    name: CAPTURE_CONTAINER,
    image: settings.captureImage,
    // The image's entrypoint is the switchyard command line.
    args: captureArguments(capture),
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] },
    },
  };
}
