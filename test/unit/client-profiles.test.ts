// Client profiles: real user agents identified, the table's features and defects per version,
// and the group each profile is served from.
import { jest } from '@jest/globals';
import {
  clientProfile,
  describeClient,
  identifyClient,
  meshGroupName,
  parseClientLabel,
  parseMeshGroup,
  servedShape,
  type ClientNode,
} from '../../src/clients/index.js';
import { CERTIFICATE_PROVIDER_KEY, nodeGroup } from '../../src/xds/node-group.js';
import { log } from '../../src/log.js';

// Captured from Debian bookworm's python3-grpcio 1.51.1 on this machine (its first DiscoveryRequest).
const PYTHON_1_51_1: ClientNode = {
  userAgentName: 'gRPC C-core linux Python',
  userAgentVersion: 'C-core 29.0.0 Python 1.51.1',
  clientFeatures: ['envoy.lb.does_not_support_overprovisioning', 'xds.config.resource-in-sotw'],
};
// What @grpc/grpc-js-xds 1.14.1 sends (build/src/xds-client.js).
const GRPC_JS_XDS: ClientNode = {
  userAgentName: 'gRPC Node Pure JS',
  userAgentVersion: '1.14.1',
  clientFeatures: ['envoy.lb.does_not_support_overprovisioning'],
};

describe('identifying clients from their user agent', () => {
  it('reads the release of a C-core language wrapper, not the core version', () => {
    const python = identifyClient(PYTHON_1_51_1);
    expect(python).toMatchObject({ implementation: 'grpc-core', version: [1, 51, 1], language: 'Python' });
    expect(python.clientFeatures).toContain('xds.config.resource-in-sotw');
    expect(describeClient(python)).toBe('gRPC C-core 1.51.1 (Python)');
    // PHP appends its release without a language word.
    expect(identifyClient({ userAgentName: 'gRPC C-core linux PHP', userAgentVersion: 'C-core 33.0.0 1.56.0' })).toMatchObject({
      implementation: 'grpc-core',
      version: [1, 56, 0],
      language: 'PHP',
    });
  });

  it('maps a bare C++ core version to the earliest release it can be', () => {
    expect(identifyClient({ userAgentName: 'gRPC C-core linux', userAgentVersion: 'C-core 29.0.0' })).toMatchObject({
      implementation: 'grpc-core',
      version: [1, 51, 0],
      language: 'C++',
    });
  });

  it('knows grpc-js-xds, Java, Go and Envoy (from its build version)', () => {
    expect(identifyClient(GRPC_JS_XDS)).toMatchObject({ implementation: 'grpc-node', version: [1, 14, 1] });
    expect(identifyClient({ userAgentName: 'gRPC Java', userAgentVersion: '1.57.2' })).toMatchObject({
      implementation: 'grpc-java',
      version: [1, 57, 2],
    });
    expect(identifyClient({ userAgentName: 'gRPC Go', userAgentVersion: '1.56.0-dev' })).toMatchObject({
      implementation: 'grpc-go',
      version: [1, 56, 0],
    });
    const envoy = identifyClient({
      userAgentName: 'envoy',
      userAgentBuildVersion: { version: { majorNumber: 1, minorNumber: 28, patch: 2 } },
    });
    expect(envoy).toMatchObject({ implementation: 'envoy', version: [1, 28, 2] });
    expect(identifyClient({ userAgentName: 'envoy' }).version).toBeUndefined();
  });

  it('calls anything else unknown', () => {
    expect(identifyClient({}).implementation).toBe('unknown');
    expect(identifyClient({ userAgentName: 'my-xds-client', userAgentVersion: '2.0' }).implementation).toBe('unknown');
  });
});

describe('profiles from the feature table', () => {
  it('C-core 1.51.1 lacks string_match and custom LB config, and ring hash for its crash', () => {
    const profile = clientProfile(identifyClient(PYTHON_1_51_1));
    expect(profile.has('retries')).toBe(true);
    expect(profile.has('outlier_detection')).toBe(true);
    expect(profile.lacks('header_string_match')).toBe('gRPC C-core 1.51.1 (Python) has no header_string_match (from 1.56.0)');
    expect(profile.lacks('typed_lb_policy')).toBe('gRPC C-core 1.51.1 (Python) has no typed_lb_policy (from 1.55.0)');
    expect(profile.lacks('ring_hash')).toMatch(
      /^gRPC C-core 1\.51\.1 \(Python\) crashes the calling process on its first ring-hash pick .*grpc\/grpc#31766.*fixed in 1\.52\.0/,
    );
    expect(profile.lacks('maglev')).toBe('gRPC C-core 1.51.1 (Python) has no maglev');
  });

  it('C-core 1.52.0 has ring hash again; 1.50 has it without the crash', () => {
    const core = (version: string) =>
      clientProfile(identifyClient({ userAgentName: 'gRPC C-core linux Python', userAgentVersion: `C-core 30.0.0 Python ${version}` }));
    expect(core('1.52.0').has('ring_hash')).toBe(true);
    expect(core('1.50.1').has('ring_hash')).toBe(true);
    expect(core('1.51.3').has('ring_hash')).toBe(false);
    expect(core('1.39.0').lacks('ring_hash')).toBe('gRPC C-core 1.39.0 (Python) has no ring_hash (from 1.40.0)');
  });

  it('grpc-js-xds 1.14.1 has everything gRPC Node implements', () => {
    const profile = clientProfile(identifyClient(GRPC_JS_XDS));
    for (const feature of ['header_string_match', 'typed_lb_policy', 'ring_hash', 'retries', 'timeouts', 'outlier_detection'] as const) {
      expect(profile.has(feature)).toBe(true);
    }
    expect(profile.has('least_request')).toBe(false);
    expect(profile.has('maglev')).toBe(false);
  });

  it('an unknown client gets none of the features; a known one without a version is taken as current', () => {
    const unknown = clientProfile(identifyClient({ userAgentName: 'my-xds-client' }));
    expect(unknown.has('ring_hash')).toBe(false);
    expect(unknown.has('header_string_match')).toBe(false);
    expect(unknown.lacks('ring_hash')).toMatch(/most conservative profile/);
    expect(clientProfile(identifyClient({ userAgentName: 'envoy' })).has('maglev')).toBe(true);
  });
});

describe('groups by role and profile', () => {
  it('names degraded groups by what they lack and keeps the plain role for full-featured clients', () => {
    const group = (role: 'sidecar' | 'proxyless', node: ClientNode) =>
      meshGroupName(role, servedShape(clientProfile(identifyClient(node)), role));
    expect(group('proxyless', PYTHON_1_51_1)).toBe('proxyless+legacy-header-match+no-ring-hash');
    expect(group('proxyless', GRPC_JS_XDS)).toBe('proxyless');
    expect(group('proxyless', { userAgentName: 'gRPC Go', userAgentVersion: '1.50.0' })).toBe('proxyless+legacy-header-match');
    expect(
      group('sidecar', { userAgentName: 'envoy', userAgentBuildVersion: { version: { majorNumber: 1, minorNumber: 28, patch: 0 } } }),
    ).toBe('sidecar');
    expect(
      group('sidecar', { userAgentName: 'envoy', userAgentBuildVersion: { version: { majorNumber: 1, minorNumber: 18, patch: 0 } } }),
    ).toBe('sidecar+legacy-header-match');
    expect(group('sidecar', {})).toBe('sidecar+grpc-lb-policy+legacy-header-match+no-ring-hash');
  });

  it('parses every group name it makes back into role and shape, and nothing else', () => {
    for (const name of [
      'sidecar',
      'proxyless',
      'proxyless+legacy-header-match+no-ring-hash',
      'sidecar+grpc-lb-policy+legacy-header-match+no-ring-hash',
    ]) {
      const parsed = parseMeshGroup(name)!;
      expect(meshGroupName(parsed.role, parsed.shape)).toBe(name);
    }
    expect(parseMeshGroup('gateway/edge')).toBeUndefined();
    expect(parseMeshGroup('proxyless+no-ring-hash+legacy-header-match')).toBeUndefined();
    expect(parseMeshGroup('proxyless+bogus')).toBeUndefined();
  });

  it('the xDS server puts a C-core node without role metadata in its proxyless group', () => {
    expect(nodeGroup({ id: 'py', ...PYTHON_1_51_1 })).toBe('proxyless+legacy-header-match+no-ring-hash');
    expect(nodeGroup({ id: 'js', ...GRPC_JS_XDS })).toBe('proxyless');
    expect(nodeGroup({ id: 'e', userAgentName: 'envoy' })).toBe('sidecar');
  });

  it('serves plain text, with a warning naming the node, to a client told of the certificate provider but without gRFC A29', () => {
    const warn = jest.spyOn(log, 'warn').mockImplementation(() => log);
    try {
      const withProvider = { fields: { [CERTIFICATE_PROVIDER_KEY]: { stringValue: 'workload' } } };
      const node = (id: string, version: string, metadata?: object) => ({
        id,
        userAgentName: 'gRPC Node Pure JS',
        userAgentVersion: version,
        metadata,
      });
      expect(nodeGroup(node('old', '1.12.0', withProvider))).toBe(nodeGroup(node('old-plain', '1.12.0')));
      expect(nodeGroup(node('new', '1.14.1', withProvider))).not.toBe(nodeGroup(node('new-plain', '1.14.1')));
      expect(warn.mock.calls).toEqual([
        [
          'node declares the workload certificate provider but its client has no gRFC A29: served plain text',
          { node: 'old', reason: expect.stringContaining('1.12.0') },
        ],
      ]);
    } finally {
      warn.mockRestore();
    }
  });

  it('parses render --client labels and says what it accepts', () => {
    expect(parseClientLabel('grpc-core/1.51.1')).toMatchObject({ implementation: 'grpc-core', version: [1, 51, 1] });
    expect(parseClientLabel('envoy/latest').version).toBeUndefined();
    expect(() => parseClientLabel('grpc-python/1.51.1')).toThrow(
      /implementation one of envoy, grpc-core, grpc-java, grpc-go, grpc-node, unknown/,
    );
    expect(() => parseClientLabel('grpc-core/one')).toThrow(/major\.minor\[\.patch\]/);
  });
});
