// Envoy refuses a Maglev table whose size is not prime: a policy with one must be rejected, with
// the same message wherever it is caught (the manifest check or the model), naming a prime to use.
import { isPrime, maglevTableSizeProblem, nextPrime } from '../../src/envoy/maglev.js';
import { checkPolicy } from '../../src/model/index.js';
import { validateTrafficPolicySchema } from '../../src/sources/crd-schema.js';
import type { TrafficPolicySpec } from '../../src/sources/types.js';

/** The primes below `limit`, by the sieve of Eratosthenes: an independent answer to compare with. */
function sieve(limit: number): Set<number> {
  const composite = new Uint8Array(limit);
  const primes = new Set<number>();
  for (let n = 2; n < limit; n++) {
    if (composite[n]) continue;
    primes.add(n);
    for (let m = n * n; m < limit; m += n) composite[m] = 1;
  }
  return primes;
}

describe('the Maglev table size check', () => {
  it('accepts exactly the primes (checked against a sieve up to 20,000)', () => {
    const primes = sieve(20_000);
    const wrong: number[] = [];
    for (let n = -3; n < 20_000; n++) if (isPrime(n) !== primes.has(n)) wrong.push(n);
    expect(wrong).toEqual([]);
  });

  it("accepts Envoy's default and maximum sizes and rejects odd composites near them", () => {
    expect(isPrime(65537)).toBe(true);
    expect(isPrime(5_000_011)).toBe(true);
    expect(isPrime(65535)).toBe(false);
    expect(isPrime(4_999_993)).toBe(false); // 23 x 149 x 1,459
  });

  it('rejects what is not a whole number', () => {
    expect(isPrime(7.5)).toBe(false);
    expect(isPrime(Number.NaN)).toBe(false);
  });

  it('names the next prime as the fix', () => {
    expect(nextPrime(65536)).toBe(65537);
    expect(nextPrime(9)).toBe(11);
    expect(nextPrime(-4)).toBe(2);
    expect(maglevTableSizeProblem(65537)).toBeUndefined();
    expect(maglevTableSizeProblem(25)).toBe('25 is not prime; use a prime such as 29');
  });

  it.each([9, 25, 65535])('gives one message for %i from the manifest check and from the model', (tableSize) => {
    const spec: TrafficPolicySpec = {
      targetRef: { kind: 'Service', name: 'api' },
      loadBalancer: { policy: 'Maglev', maglev: { tableSize } },
    } as TrafficPolicySpec;
    const expected = `spec.loadBalancer.maglev.tableSize: ${maglevTableSizeProblem(tableSize)}`;
    const manifest = validateTrafficPolicySchema({
      apiVersion: 'switchyard.dev/v1alpha1',
      kind: 'TrafficPolicy',
      metadata: { name: 'api', namespace: 'shop' },
      spec,
    });
    expect(manifest).toEqual([expected]);
    const model = checkPolicy('shop', spec, () => ({ ports: [{ port: 8080 }] }) as never);
    expect(model.spec).toEqual([expected]);
  });
});
