// The gateway Secret rule on its own: the explicit map, the Kubernetes answer and its cache,
// with a clock and a review the test controls.
import { GatewaySecretPolicy, type SecretAccessQuestion } from '../../src/security/gateway-secrets.js';

const EDGE = { uris: ['spiffe://cluster.local/ns/gateways/sa/edge'], dnsNames: [] };

/** A review whose answers the test gives one by one. */
function controlledReview() {
  const asked: SecretAccessQuestion[] = [];
  const waiting: Array<(allowed: boolean) => void> = [];
  return {
    asked,
    review: (question: SecretAccessQuestion) => {
      asked.push(question);
      return new Promise<{ allowed: boolean }>((resolve) => waiting.push((allowed) => resolve({ allowed })));
    },
    answer: async (allowed: boolean) => {
      waiting.shift()!(allowed);
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('GatewaySecretPolicy', () => {
  it('asks Kubernetes once per service account and Secret, and uses the answer until it expires; then asks again before allowing', async () => {
    let now = 0;
    const { asked, review, answer } = controlledReview();
    const policy = new GatewaySecretPolicy({ review, allowedTtlMs: 1000, deniedTtlMs: 100, now: () => now });
    let settled = 0;
    policy.onSettled(() => settled++);

    expect(policy.decide('edge', EDGE, 'shop/shop-tls')).toMatchObject({ allowed: false, pending: true });
    expect(policy.decide('edge', EDGE, 'shop/shop-tls')).toMatchObject({ pending: true });
    expect(asked).toEqual([{ namespace: 'gateways', serviceAccount: 'edge', secretNamespace: 'shop', secretName: 'shop-tls' }]);
    await answer(true);
    expect(settled).toBe(1);
    now = 999;
    expect(policy.decide('edge', EDGE, 'shop/shop-tls')).toEqual({ allowed: true });
    expect(asked).toHaveLength(1);

    // Expired: withheld until the new answer, so a revoked grant never carries the next version.
    now = 1000;
    expect(policy.decide('edge', EDGE, 'shop/shop-tls')).toMatchObject({ allowed: false, pending: true });
    expect(asked).toHaveLength(2);
    await answer(false);
    expect(policy.decide('edge', EDGE, 'shop/shop-tls')).toMatchObject({
      allowed: false,
      pending: false,
      reason: expect.stringContaining('Kubernetes says service account gateways/edge may not get Secret shop/shop-tls'),
    });
    expect(settled).toBe(2);

    // A changed Secret is asked about again at once, whatever the cached answer's age.
    expect(policy.decide('edge', EDGE, 'shop/other')).toMatchObject({ pending: true });
    await answer(true);
    expect(policy.decide('edge', EDGE, 'shop/other')).toEqual({ allowed: true });
    const before = asked.length;
    policy.forgetSecret('shop/other');
    expect(policy.decide('edge', EDGE, 'shop/other')).toMatchObject({ pending: true });
    expect(asked).toHaveLength(before + 1);
  });

  it('the explicit map decides a gateway it lists; an unlisted gateway without Kubernetes gets nothing', () => {
    const policy = new GatewaySecretPolicy({ access: { edge: [EDGE.uris[0]], local: ['*'] } });
    expect(policy.decide('edge', EDGE, 'shop/a')).toEqual({ allowed: true });
    expect(policy.decide('edge', undefined, 'shop/a')).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('no client certificate'),
    });
    expect(policy.decide('local', undefined, 'shop/a')).toEqual({ allowed: true });
    expect(policy.decide('other', EDGE, 'shop/a')).toMatchObject({
      allowed: false,
      pending: false,
      reason: expect.stringContaining('give --gateway-secret-access other=<identity>'),
    });
  });

  it('asks nothing for a client without a SPIFFE ID of the trust domain', () => {
    const { asked, review } = controlledReview();
    const policy = new GatewaySecretPolicy({ review, trustDomain: 'cluster.local' });
    const elsewhere = { uris: ['spiffe://other.example/ns/gateways/sa/edge'], dnsNames: [] };
    expect(policy.decide('edge', elsewhere, 'shop/a')).toMatchObject({
      allowed: false,
      pending: false,
      reason: expect.stringContaining(
        'no SPIFFE ID spiffe://<trust-domain>/ns/<namespace>/sa/<service-account> in trust domain "cluster.local"',
      ),
    });
    expect(policy.decide('edge', undefined, 'shop/a')).toMatchObject({ allowed: false, pending: false });
    expect(asked).toEqual([]);
  });
});
