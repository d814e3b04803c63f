// Envoy's Maglev load balancer refuses a lookup table whose size is not prime (maglev_lb.cc),
// a rule its proto validation does not express. One check, one message, for every layer that
// reads a table size: the manifest's schema check and the model's policy check.

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** The smallest prime above `n`. */
export function nextPrime(n: number): number {
  let candidate = Math.max(2, Math.floor(n) + 1);
  while (!isPrime(candidate)) candidate++;
  return candidate;
}

/** Why Envoy would reject this Maglev table size (the field path is the caller's), or undefined. */
export function maglevTableSizeProblem(size: number): string | undefined {
  return isPrime(size) ? undefined : `${size} is not prime; use a prime such as ${nextPrime(size)}`;
}
