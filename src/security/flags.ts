// The `switchyard serve` flags for the xDS port's TLS, client identities and limits, and what
// they become: the xDS server's options.
import { UsageError, type FlagSpec, type FlagValues } from '../cli/flags.js';
import type { XdsServerOptions } from '../xds/server.js';
import type { IdentityRule } from './identity.js';

export const SECURITY_FLAGS: FlagSpec[] = [
  { name: 'tls-cert', type: 'string', default: '', help: 'PEM certificate chain for TLS on the xDS port (reloaded when the file changes)' },
  { name: 'tls-key', type: 'string', default: '', help: 'PEM private key for --tls-cert' },
  { name: 'client-ca', type: 'string', default: '', help: 'PEM CA bundle: clients must present a certificate it signed (mutual TLS)' },
  {
    name: 'identity-rule',
    type: 'string',
    default: 'auto',
    choices: ['auto', 'none', 'spiffe', 'dns'],
    help: 'how a client certificate must match the node it claims; auto: spiffe with --client-ca, none without; none with --client-ca is an explicit opt-out',
  },
  {
    name: 'trust-domain',
    type: 'string',
    default: '',
    help: "the mesh's SPIFFE trust domain (default cluster.local): workload identities in mutual TLS and AccessPolicy rules, and with --identity-rule spiffe the only one accepted",
  },
  {
    name: 'gateway-secret-access',
    type: 'list',
    default: [],
    help: "gateway=identity pairs allowed to receive that gateway's Secrets, e.g. edge=spiffe://cluster.local/ns/edge/sa/gateway (needs mutual TLS); gateway=* serves them to any client, even in plain text (local tests only). Gateways not listed: with --kubernetes, identities the API server lets get the Secret (SubjectAccessReview); otherwise nobody",
  },
  { name: 'max-streams', type: 'int', default: 0, min: 0, help: 'open xDS streams in all (0: unlimited)' },
  { name: 'max-streams-per-client', type: 'int', default: 0, min: 0, help: 'open xDS streams from one client address (0: unlimited)' },
  {
    name: 'max-subscriptions-per-stream',
    type: 'int',
    default: 0,
    min: 0,
    help: 'resource names one stream may subscribe to (0: unlimited)',
  },
  {
    name: 'max-queued-bytes',
    type: 'int',
    default: 67108864,
    min: 0,
    help: 'response bytes queued over all xDS streams before requests wait their turn and pushes are held (0: no bound)',
  },
  { name: 'max-request-bytes', type: 'int', default: 4194304, min: 1024, help: 'largest xDS request message accepted' },
  {
    name: 'keepalive-time-ms',
    type: 'int',
    default: 120000,
    min: 1000,
    help: 'ping an idle client connection this often, so dead peers are noticed',
  },
  { name: 'keepalive-timeout-ms', type: 'int', default: 10000, min: 100, help: 'close a connection whose ping went unanswered this long' },
];

export type XdsSecuritySettings = Pick<
  XdsServerOptions,
  'tls' | 'identityRule' | 'trustDomain' | 'gatewaySecretAccess' | 'secretAccessReview' | 'secretAccessCacheMs' | 'limits'
>;

/** Flag values (parsed with SECURITY_FLAGS) as xDS server options. */
export function xdsSecuritySettings(values: FlagValues): XdsSecuritySettings {
  const text = (key: string) => (typeof values[key] === 'string' && values[key] !== '' ? (values[key] as string) : undefined);
  const cap = (key: string) => ((values[key] as number) > 0 ? (values[key] as number) : undefined);
  const certFile = text('tlsCert');
  const keyFile = text('tlsKey');
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new UsageError('--tls-cert and --tls-key go together: give both, or neither for plain text');
  const clientCaFile = text('clientCa');
  if (clientCaFile && !certFile) throw new UsageError('--client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)');
  const access: Record<string, string[]> = {};
  for (const pair of (values.gatewaySecretAccess as string[] | undefined) ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) throw new UsageError(`--gateway-secret-access: "${pair}" is not gateway=identity`);
    (access[pair.slice(0, eq)] ??= []).push(pair.slice(eq + 1));
  }
  return {
    tls: certFile && keyFile ? { certFile, keyFile, clientCaFile } : undefined,
    // auto: the server's default (spiffe under mutual TLS, none otherwise).
    identityRule: values.identityRule === 'auto' || values.identityRule === undefined ? undefined : (values.identityRule as IdentityRule),
    trustDomain: text('trustDomain'),
    gatewaySecretAccess: Object.keys(access).length > 0 ? access : undefined,
    limits: {
      maxStreams: cap('maxStreams'),
      maxStreamsPerClient: cap('maxStreamsPerClient'),
      maxSubscriptionsPerStream: cap('maxSubscriptionsPerStream'),
      maxRequestBytes: values.maxRequestBytes as number,
      maxQueuedBytes: values.maxQueuedBytes as number,
      keepaliveTimeMs: values.keepaliveTimeMs as number,
      keepaliveTimeoutMs: values.keepaliveTimeoutMs as number,
    },
  };
}
