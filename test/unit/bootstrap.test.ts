// The Envoy bootstrap files users deploy: each must be a valid envoy.config.bootstrap.v3.Bootstrap
// (encoded with Envoy's protos, which reject unknown fields) that points ADS at the control plane
// and names the node's role.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { decodeMessage, encodeMessage } from '../../src/envoy/protos.js';
import { fromProto3Json } from '../../src/envoy/proto-json.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

function loadBootstrap(file: string): Record<string, any> {
  const value = fromProto3Json(BOOTSTRAP, parse(readFileSync(file, 'utf8')));
  // Through real bytes and back: what Envoy would read.
  return decodeMessage(BOOTSTRAP, encodeMessage(BOOTSTRAP, value)) as Record<string, any>;
}

/** Where csi-driver-spiffe (and `switchyard ca issue --out`) puts tls.crt, tls.key and ca.crt. */
const WORKLOAD_CERTIFICATE_DIR = '/var/run/secrets/spiffe.io';

/** A file-based SDS file: a DiscoveryResponse of Secrets, through Envoy's protos (Any expanded). */
function loadSds(file: string): { resources: Array<Record<string, any>> } {
  const type = 'envoy.service.discovery.v3.DiscoveryResponse';
  const value = fromProto3Json(type, parse(readFileSync(file, 'utf8')));
  const response = decodeMessage(type, encodeMessage(type, value)) as { resources: Array<Record<string, any>> };
  for (const resource of response.resources)
    expect(resource['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret');
  return response;
}

function metadata(bootstrap: Record<string, any>): Record<string, string> {
  return Object.fromEntries(Object.entries(bootstrap.node.metadata.fields).map(([k, v]: [string, any]) => [k, v.stringValue]));
}

describe.each([
  ['envoy/sidecar.yaml', { 'switchyard.dev/role': 'sidecar' }],
  ['envoy/gateway.yaml', { 'switchyard.dev/role': 'gateway', 'switchyard.dev/gateway': 'edge' }],
])('%s', (file, expectedMetadata) => {
  const bootstrap = loadBootstrap(file);

  it('names the node and its role', () => {
    expect(bootstrap.node.id).toBeTruthy();
    expect(metadata(bootstrap)).toEqual(expectedMetadata);
  });

  it('takes everything over one ADS stream to the control plane, over HTTP/2', () => {
    const dynamic = bootstrap.dynamicResources;
    expect(dynamic.adsConfig).toMatchObject({
      apiType: 'GRPC',
      transportApiVersion: 'V3',
      grpcServices: [{ envoyGrpc: { clusterName: 'xds_cluster' } }],
    });
    expect(dynamic.cdsConfig).toEqual({ ads: {}, resourceApiVersion: 'V3' });
    expect(dynamic.ldsConfig).toEqual({ ads: {}, resourceApiVersion: 'V3' });
    const xds = bootstrap.staticResources.clusters.find((c: any) => c.name === 'xds_cluster');
    expect(xds.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress).toEqual({
      address: 'switchyard.switchyard-system.svc',
      portValue: 18000,
    });
    expect(xds.connectTimeout).toEqual({ seconds: '5' });
    const http = xds.typedExtensionProtocolOptions['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    expect(http.explicitHttpConfig.http2ProtocolOptions).toBeDefined();
  });

  it('talks to the control plane over mutual TLS with the workload certificate from file-based SDS in a watched directory', () => {
    const xds = bootstrap.staticResources.clusters.find((c: any) => c.name === 'xds_cluster');
    const tls = xds.transportSocket.typedConfig;
    expect(tls['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    expect(tls.sni).toBe('switchyard.switchyard-system.svc');
    const fileSds = (config: any) => config.sdsConfig.pathConfigSource;
    const [certificate] = tls.commonTlsContext.tlsCertificateSdsSecretConfigs;
    const bundle = tls.commonTlsContext.combinedValidationContext.validationContextSdsSecretConfig;
    // The control plane's identity is pinned here, on this connection; the shared trust bundle pins no peer.
    expect(tls.commonTlsContext.combinedValidationContext.defaultValidationContext.matchTypedSubjectAltNames).toEqual([
      { sanType: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/switchyard-system/sa/switchyard' } },
    ]);
    for (const [config, file] of [
      [certificate, 'envoy/workload-certificate.yaml'],
      [bundle, 'envoy/trust-bundle.yaml'],
    ]) {
      // The SDS file is shipped next to the bootstrap, and names the secret the bootstrap asks for.
      expect(fileSds(config)).toEqual({ path: `/etc/envoy/${path.basename(file)}`, watchedDirectory: { path: WORKLOAD_CERTIFICATE_DIR } });
      const response = loadSds(file);
      expect(response.resources.map((r: any) => r.name)).toEqual([config.name]);
    }
    const [secret] = loadSds('envoy/workload-certificate.yaml').resources;
    expect(secret.tlsCertificate).toEqual({
      certificateChain: { filename: `${WORKLOAD_CERTIFICATE_DIR}/tls.crt` },
      privateKey: { filename: `${WORKLOAD_CERTIFICATE_DIR}/tls.key` },
    });
    const [trust] = loadSds('envoy/trust-bundle.yaml').resources;
    expect(trust.validationContext.trustedCa).toEqual({ filename: `${WORKLOAD_CERTIFICATE_DIR}/ca.crt` });
    expect(trust.validationContext.matchTypedSubjectAltNames).toBeUndefined();
  });

  it('keeps the admin API on loopback and answers probes through a health listener', () => {
    expect(bootstrap.admin.address.socketAddress.address).toBe('127.0.0.1');
    const adminPort = bootstrap.admin.address.socketAddress.portValue;
    const admin = bootstrap.staticResources.clusters.find((c: any) => c.name === 'envoy_admin');
    expect(admin.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress).toEqual({
      address: '127.0.0.1',
      portValue: adminPort,
    });
    const health = bootstrap.staticResources.listeners.find((l: any) => l.name === 'health');
    const routes = health.filterChains[0].filters[0].typedConfig.routeConfig.virtualHosts[0].routes;
    expect(routes).toEqual([{ match: { path: '/ready' }, route: { cluster: 'envoy_admin' } }]);
  });
});

describe('proto3 JSON -> encodeMessage form', () => {
  it('rejects a field Envoy does not know, naming its path', () => {
    const text = readFileSync('envoy/gateway.yaml', 'utf8').replace(
      'connect_timeout: 5s',
      'connect_timeout: 5s\n      connect_timeuot: 5s',
    );
    expect(() => fromProto3Json(BOOTSTRAP, parse(text))).toThrow(
      /static_resources\.clusters\[0\]\.connect_timeuot: unknown field for envoy\.config\.cluster\.v3\.Cluster/,
    );
  });

  it('rejects a malformed duration and an Any of an unknown type', () => {
    expect(() => fromProto3Json('envoy.config.cluster.v3.Cluster', { connect_timeout: '5 seconds' })).toThrow(
      /connect_timeout: a duration is written like "5s"/,
    );
    expect(() =>
      fromProto3Json('envoy.config.listener.v3.Filter', { name: 'x', typed_config: { '@type': 'type.googleapis.com/no.such.Type' } }),
    ).toThrow(/unknown type/);
  });

  it('reads durations with fractions, wrappers and camelCase names', () => {
    expect(
      fromProto3Json('envoy.config.cluster.v3.Cluster', { connectTimeout: '0.250s', per_connection_buffer_limit_bytes: 1024 }),
    ).toEqual({
      connectTimeout: { seconds: 0, nanos: 250_000_000 },
      perConnectionBufferLimitBytes: { value: 1024 },
    });
  });
});

// The e2e work owns this file; it is checked once it exists.
const PROXYLESS = 'envoy/proxyless-bootstrap.json';
if (existsSync(PROXYLESS)) {
  describe('envoy/proxyless-bootstrap.json', () => {
    it('has the keys gRPC requires: xds_servers with a server URI, and a node', () => {
      const bootstrap = JSON.parse(readFileSync(PROXYLESS, 'utf8'));
      expect(Array.isArray(bootstrap.xds_servers)).toBe(true);
      expect(bootstrap.xds_servers[0].server_uri).toBeTruthy();
      expect(bootstrap.node?.id).toBeTruthy();
    });
  });
}
