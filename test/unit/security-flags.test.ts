// `switchyard serve`'s security flags as xDS server options: the identity rule's auto default and
// its explicit opt-out, and the gateway Secret map with its plain-text "*".
import { Command } from 'commander';
import { defineFlags, flagValues } from '../../src/cli/flags.js';
import { SECURITY_FLAGS, xdsSecuritySettings } from '../../src/security/flags.js';
import { defaultIdentityRule, grpcServerOptions } from '../../src/xds/server.js';

function settings(...argv: string[]) {
  const command = defineFlags(new Command('serve').exitOverride(), SECURITY_FLAGS);
  command.parse(argv, { from: 'user' });
  const { values } = flagValues(command, SECURITY_FLAGS, {}, new Set(SECURITY_FLAGS.map((f) => f.name)));
  return xdsSecuritySettings(values);
}

describe('security flags', () => {
  const mutual = ['--tls-cert', 'tls.crt', '--tls-key', 'tls.key', '--client-ca', 'ca.crt'];

  it('leaves the identity rule to the server by default: spiffe under mutual TLS, none without', () => {
    const withCa = settings(...mutual);
    expect(withCa.identityRule).toBeUndefined();
    expect(defaultIdentityRule(withCa.tls)).toBe('spiffe');
    expect(defaultIdentityRule(settings('--tls-cert', 'tls.crt', '--tls-key', 'tls.key').tls)).toBe('none');
    expect(defaultIdentityRule(settings().tls)).toBe('none');
    // The opt-out is explicit and kept.
    expect(settings(...mutual, '--identity-rule', 'none').identityRule).toBe('none');
  });

  it("become grpc-js's server options, each with its default", () => {
    expect(grpcServerOptions(settings().limits ?? {})).toEqual({
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
      'grpc.keepalive_time_ms': 120_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    expect(grpcServerOptions(settings('--keepalive-time-ms', '5000', '--keepalive-timeout-ms', '2000').limits ?? {})).toMatchObject({
      'grpc.keepalive_time_ms': 5000,
      'grpc.keepalive_timeout_ms': 2000,
    });
  });

  it('reads gateway=identity pairs, "*" included, and names a malformed one', () => {
    expect(settings('--gateway-secret-access', 'edge=*,edge=spiffe://cluster.local/ns/e/sa/g').gatewaySecretAccess).toEqual({
      edge: ['*', 'spiffe://cluster.local/ns/e/sa/g'],
    });
    expect(() => settings('--gateway-secret-access', 'edge')).toThrow('--gateway-secret-access: "edge" is not gateway=identity');
  });
});
