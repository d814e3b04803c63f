import { encodeMessage, decodeMessage, TypeUrl } from '../../src/envoy/protos.js';

describe('Envoy protos', () => {
  it('round-trips a Cluster with a typed load-balancing policy through protobuf bytes', () => {
    const cluster = {
      name: 'shop/reviews/9080',
      type: 'EDS',
      edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
      loadBalancingPolicy: {
        policies: [
          {
            typedExtensionConfig: {
              name: 'envoy.load_balancing_policies.maglev',
              typedConfig: {
                '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev',
                tableSize: { value: 65537 },
              },
            },
          },
        ],
      },
    };
    const decoded = decodeMessage(TypeUrl.Cluster, encodeMessage(TypeUrl.Cluster, cluster));
    expect(decoded.name).toBe('shop/reviews/9080');
    expect(decoded.type).toBe('EDS');
    const policy = (decoded.loadBalancingPolicy as any).policies[0].typedExtensionConfig.typedConfig;
    expect(policy['@type']).toContain('maglev.v3.Maglev');
    expect(policy.tableSize.value).toBe('65537');
  });

  it('rejects a misspelt field instead of dropping it', () => {
    expect(() => encodeMessage(TypeUrl.Cluster, { nmae: 'x' })).toThrow(/unknown field "nmae"/);
    expect(() =>
      encodeMessage(TypeUrl.Cluster, {
        loadBalancingPolicy: {
          policies: [
            {
              typedExtensionConfig: {
                typedConfig: {
                  '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev',
                  tableSise: { value: 7 },
                },
              },
            },
          ],
        },
      }),
    ).toThrow(/tableSise/);
  });
});
