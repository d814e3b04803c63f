// The mesh TLS and RBAC building blocks, embedded as the inbound listener and outbound clusters
// will embed them: every config passes Envoy's validation rules and survives an encode/decode,
// and the HTTP RBAC config is accepted by grpc-js-xds's own RBAC filter (gRFC A41), whose decisions
// on real-looking requests are the ones the AccessPolicy means.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import { decodeMessage, encodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { validateResource } from '../../src/envoy/validation-rules.js';
import { serviceAccess, type AccessPolicyEntry, type ServiceAccess } from '../../src/model/index.js';
import { httpRbacFilter, inboundTls, networkRbacFilter, upstreamMeshTransportSocket } from '../../src/translate/index.js';
import { TRUST_BUNDLE_SECRET, WORKLOAD_CERTIFICATE_SECRET, WORKLOAD_SDS_FILES } from '../../src/translate/mesh-tls.js';
import type { AccessPolicySpec } from '../../src/sources/types.js';
import { SDS_DIR, SDS_FILES, SDS_SECRETS, SPIFFE_DIR } from '../../src/injection/sidecar.js';

const TD = 'cluster.local';
const reviews = { namespace: 'shop', name: 'reviews' };
const policy = (name: string, spec: AccessPolicySpec): AccessPolicyEntry => ({ namespace: 'shop', name, spec });

const enforced: ServiceAccess = serviceAccess(
  reviews,
  [
    policy('readers', {
      targetRef: { name: 'reviews' },
      mtls: 'Strict',
      allow: [
        { from: { namespaces: ['web'] }, to: { paths: [{ prefix: '/api/' }], methods: ['GET', 'HEAD'] } },
        { from: { serviceAccounts: ['admin'] }, to: { ports: [9080], headers: [{ name: 'X-Admin', exact: 'yes' }] } },
        { from: { spiffeIds: ['spiffe://cluster.local/ns/ops/sa/backup'] }, to: { ports: [5432] } },
      ],
    }),
  ],
  'Permissive',
);
const dryRunOnly = serviceAccess(reviews, [policy('trial', { mode: 'DryRun', allow: [{ from: { namespaces: ['web'] } }] })], 'Permissive');

function roundTrip(typeUrl: string, value: object): Record<string, unknown> {
  expect(validateResource(typeUrl, value)).toEqual([]);
  const bytes = encodeMessage(typeUrl, value);
  expect(validateResource(typeUrl, bytes)).toEqual([]);
  return decodeMessage(typeUrl, bytes);
}

/** An inbound listener as the sidecar's will be: per chain variant of the mode, the filters of the port. */
function inboundListener(mode: 'Strict' | 'Permissive' | 'Disable', filters: object[], http: boolean): Record<string, unknown> {
  const tls = inboundTls(mode, TD, http);
  return {
    name: 'inbound',
    address: { socketAddress: { address: '0.0.0.0', portValue: 15006 } },
    listenerFilters: tls.listenerFilters,
    filterChains: tls.chains.map((chain, i) => ({
      name: `inbound|9080|${i}`,
      filterChainMatch: {
        destinationPort: { value: 9080 },
        ...(chain.transportProtocol ? { transportProtocol: chain.transportProtocol } : {}),
      },
      ...(chain.transportSocket ? { transportSocket: chain.transportSocket } : {}),
      filters,
    })),
  };
}

function hcm(rbac: object | undefined): object {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typedConfig: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      statPrefix: 'inbound_9080',
      routeConfig: {
        name: 'inbound',
        virtualHosts: [{ name: 'local', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'local' } }] }],
      },
      httpFilters: [
        ...(rbac ? [rbac] : []),
        {
          name: 'envoy.filters.http.router',
          typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
        },
      ],
    },
  };
}

const tcpProxy = {
  name: 'envoy.filters.network.tcp_proxy',
  typedConfig: {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    statPrefix: 'inbound_5432',
    cluster: 'local',
  },
};

describe('inbound TLS per mode', () => {
  it('Strict: one TLS chain that requires a client certificate from the trust domain, read through file-based SDS', () => {
    const listener = roundTrip(TypeUrl.Listener, inboundListener('Strict', [hcm(httpRbacFilter(enforced, TD))], true)) as any;
    expect(listener.filterChains).toHaveLength(1);
    const context = listener.filterChains[0].transportSocket.typedConfig;
    expect(context.requireClientCertificate).toEqual({ value: true });
    expect(context.commonTlsContext.tlsCertificateSdsSecretConfigs[0].name).toBe('workload-certificate');
    expect(context.commonTlsContext.combinedValidationContext.validationContextSdsSecretConfig.name).toBe('trust-bundle');
    expect(context.commonTlsContext.combinedValidationContext.defaultValidationContext.matchTypedSubjectAltNames).toEqual([
      { sanType: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } },
    ]);
    expect(listener.listenerFilters[0].name).toBe('envoy.filters.listener.tls_inspector');
  });

  it('Permissive: a TLS chain and a plain-text chain told apart by the TLS inspector; Disable: plain text only', () => {
    const permissive = roundTrip(TypeUrl.Listener, inboundListener('Permissive', [tcpProxy], false)) as any;
    expect(permissive.filterChains.map((c: any) => [c.filterChainMatch.transportProtocol, c.transportSocket !== undefined])).toEqual([
      ['tls', true],
      ['raw_buffer', false],
    ]);
    expect(permissive.filterChains[0].transportSocket.typedConfig.commonTlsContext.alpnProtocols).toBeUndefined();
    const disabled = roundTrip(TypeUrl.Listener, inboundListener('Disable', [tcpProxy], false)) as any;
    expect(disabled.filterChains).toHaveLength(1);
    expect(disabled.filterChains[0].transportSocket).toBeUndefined();
    expect(disabled.listenerFilters).toBeUndefined();
  });

  it('reads the same secret names and files as the shipped bootstraps and the injected sidecar', () => {
    const certificate = parse(readFileSync('envoy/workload-certificate.yaml', 'utf8')).resources[0];
    const bundle = parse(readFileSync('envoy/trust-bundle.yaml', 'utf8')).resources[0];
    expect([WORKLOAD_CERTIFICATE_SECRET, TRUST_BUNDLE_SECRET]).toEqual([certificate.name, bundle.name]);
    expect([WORKLOAD_CERTIFICATE_SECRET, TRUST_BUNDLE_SECRET]).toEqual([SDS_SECRETS.workloadCertificate, SDS_SECRETS.trustBundle]);
    expect(WORKLOAD_SDS_FILES).toEqual({
      workloadCertificate: `${SDS_DIR}/${SDS_FILES.workloadCertificate}`,
      trustBundle: `${SDS_DIR}/${SDS_FILES.trustBundle}`,
      watchedDirectory: SPIFFE_DIR,
    });
  });
});

describe('outbound TLS to a mesh Service', () => {
  const cluster = (transportSocket: object) => ({
    name: 'shop/reviews/80',
    type: 'EDS',
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    connectTimeout: { seconds: 5 },
    transportSocket,
  });

  it("matches the SPIFFE IDs of the destination pods' service accounts when known", () => {
    const decoded = roundTrip(
      TypeUrl.Cluster,
      cluster(upstreamMeshTransportSocket(TD, { namespace: 'shop', serviceAccounts: ['reviews', 'reviews-v2', 'reviews'] })),
    ) as any;
    const context = decoded.transportSocket.typedConfig;
    expect(context['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    expect(context.commonTlsContext.tlsCertificateSdsSecretConfigs[0].sdsConfig.pathConfigSource).toEqual({
      path: '/etc/envoy/workload-certificate.yaml',
      watchedDirectory: { path: '/var/run/secrets/spiffe.io' },
    });
    expect(context.commonTlsContext.combinedValidationContext.defaultValidationContext.matchTypedSubjectAltNames).toEqual([
      { sanType: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/shop/sa/reviews' } },
      { sanType: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/shop/sa/reviews-v2' } },
    ]);
  });

  it("falls back to any workload of the destination's namespace (a prefix that ends in a slash)", () => {
    const decoded = roundTrip(TypeUrl.Cluster, cluster(upstreamMeshTransportSocket(TD, { namespace: 'shop' }, true))) as any;
    const common = decoded.transportSocket.typedConfig.commonTlsContext;
    expect(common.combinedValidationContext.defaultValidationContext.matchTypedSubjectAltNames).toEqual([
      { sanType: 'URI', matcher: { prefix: 'spiffe://cluster.local/ns/shop/' } },
    ]);
    expect(common.alpnProtocols).toEqual(['h2']);
  });
});

describe('RBAC filters', () => {
  it('HTTP: deny by default, one ALLOW policy per rule, principals from the authenticated URI SAN', () => {
    const listener = roundTrip(TypeUrl.Listener, inboundListener('Strict', [hcm(httpRbacFilter(enforced, TD))], true)) as any;
    const rbac = listener.filterChains[0].filters[0].typedConfig.httpFilters[0];
    expect(rbac.name).toBe('envoy.filters.http.rbac');
    const { rules } = rbac.typedConfig;
    expect(rules.action).toBe('ALLOW');
    expect(Object.keys(rules.policies)).toEqual(['shop/readers/0', 'shop/readers/1', 'shop/readers/2']);
    expect(rules.policies['shop/readers/0'].principals).toEqual([
      { authenticated: { principalName: { safeRegex: { regex: 'spiffe://cluster\\.local/ns/web/sa/[^/]+' } } } },
    ]);
    expect(rules.policies['shop/readers/1'].principals).toEqual([
      { authenticated: { principalName: { exact: 'spiffe://cluster.local/ns/shop/sa/admin' } } },
    ]);
    expect(rbac.typedConfig.shadowRules).toBeUndefined();
    // An empty allow list denies everything: an ALLOW with no policies.
    const denyAll = httpRbacFilter(serviceAccess(reviews, [policy('none', { allow: [] })], 'Strict'), TD) as any;
    expect(denyAll.typedConfig.rules).toEqual({ action: 'ALLOW', policies: {} });
    roundTrip(TypeUrl.Listener, inboundListener('Strict', [hcm(denyAll)], true));
    // No policy with rules: no filter at all.
    expect(httpRbacFilter(serviceAccess(reviews, [], 'Strict'), TD)).toBeUndefined();
  });

  it('DryRun: shadow rules with their own stat prefix, nothing enforced', () => {
    const filter = httpRbacFilter(dryRunOnly, TD) as any;
    roundTrip(TypeUrl.Listener, inboundListener('Permissive', [hcm(filter)], true));
    expect(filter.typedConfig.rules).toEqual({ action: 'DENY' });
    expect(filter.typedConfig.shadowRules.action).toBe('ALLOW');
    expect(filter.typedConfig.shadowRulesStatPrefix).toBe('dry_run_');
  });

  it('network: stat_prefix required; rules with HTTP conditions admit nothing on TCP', () => {
    const filter = networkRbacFilter(enforced, TD, 'inbound_5432') as any;
    const listener = roundTrip(TypeUrl.Listener, inboundListener('Strict', [filter, tcpProxy], false)) as any;
    const config = listener.filterChains[0].filters[0].typedConfig;
    expect(config['@type']).toBe('type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC');
    expect(Object.keys(config.rules.policies)).toEqual(['shop/readers/2']);
    expect(config.rules.policies['shop/readers/2'].permissions).toEqual([{ destinationPort: 5432 }]);
    // Envoy's rules do require the stat prefix: the same filter without it is refused.
    const { statPrefix: _dropped, ...withoutPrefix } = filter.typedConfig;
    expect(
      validateResource(TypeUrl.Listener, inboundListener('Strict', [{ ...filter, typedConfig: withoutPrefix }, tcpProxy], false)),
    ).not.toEqual([]);
  });
});

describe('proxyless gRPC servers (gRFC A41): grpc-js-xds parses our HTTP RBAC config and decides as the policy means', () => {
  type Decide = (info: object) => boolean;
  let parseFilter: (filter: any) => { config: { apply: Decide } } | null;
  let Metadata: new () => { set(key: string, value: string): void; clone(): any };

  beforeAll(() => {
    // The filter registers itself only when gRPC's RBAC support is switched on (read at load).
    process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
    const require = createRequire(import.meta.url);
    // The package first: it sets up the proto loading the filter's own protos rely on.
    require('@grpc/grpc-js-xds');
    const rbacFilter = require('@grpc/grpc-js-xds/build/src/http-filter/rbac-filter.js');
    const registry = require('@grpc/grpc-js-xds/build/src/http-filter.js');
    const grpc = require('@grpc/grpc-js');
    rbacFilter.setup();
    const parseTop = registry.parseTopLevelFilterConfig;
    parseFilter = (filter) => {
      const { '@type': typeUrl, ...rest } = filter.typedConfig;
      const value = encodeMessage(typeUrl, rest);
      return parseTop({ type_url: typeUrl, value: Buffer.from(value) }, false);
    };
    Metadata = grpc.Metadata;
  });

  function request(options: { san?: string; path: string; method?: string; port?: number; headers?: Record<string, string> }): object {
    const headers = new Metadata();
    headers.set(':method', options.method ?? 'POST');
    headers.set(':path', options.path);
    for (const [k, v] of Object.entries(options.headers ?? {})) headers.set(k, v);
    return {
      destinationIp: '10.0.0.5',
      destinationPort: options.port ?? 9080,
      sourceIp: '10.0.0.9',
      headers,
      tls: options.san !== undefined,
      peerCertificate: options.san ? { subjectaltname: `URI:${options.san}`, subject: {} } : null,
      urlPath: options.path,
    };
  }

  it('admits the identities and requests a rule names, and denies the rest', () => {
    const parsed = parseFilter(httpRbacFilter(enforced, TD));
    expect(parsed).not.toBeNull();
    const decide = (options: Parameters<typeof request>[0]) => parsed!.config.apply(request(options));
    expect(decide({ san: 'spiffe://cluster.local/ns/web/sa/frontend', path: '/api/reviews', method: 'GET' })).toBe(true);
    expect(decide({ san: 'spiffe://cluster.local/ns/web/sa/frontend', path: '/api/reviews', method: 'POST' })).toBe(false);
    expect(decide({ san: 'spiffe://cluster.local/ns/web/sa/frontend', path: '/admin', method: 'GET' })).toBe(false);
    expect(decide({ san: 'spiffe://cluster.local/ns/web-admin/sa/frontend', path: '/api/reviews', method: 'GET' })).toBe(false);
    expect(decide({ path: '/api/reviews', method: 'GET' })).toBe(false);
    expect(decide({ san: 'spiffe://cluster.local/ns/shop/sa/admin', path: '/x', headers: { 'x-admin': 'yes' } })).toBe(true);
    expect(decide({ san: 'spiffe://cluster.local/ns/shop/sa/admin', path: '/x', headers: { 'x-admin': 'no' } })).toBe(false);
    expect(decide({ san: 'spiffe://cluster.local/ns/shop/sa/admin', path: '/x', port: 9090, headers: { 'x-admin': 'yes' } })).toBe(false);
    expect(decide({ san: 'spiffe://cluster.local/ns/ops/sa/backup', path: '/x', port: 5432 })).toBe(true);
  });

  it('with DryRun only, enforces nothing (gRPC reads only the rules)', () => {
    const parsed = parseFilter(httpRbacFilter(dryRunOnly, TD));
    expect(parsed).not.toBeNull();
    expect(parsed!.config.apply(request({ path: '/anything' }))).toBe(true);
  });
});
