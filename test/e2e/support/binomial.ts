// Deciding a statistical outcome with a bound instead of a lucky band.
//
// Each call independently lands on a backend with probability p, so the count over n calls is
// Binomial(n, p): mean n·p, standard deviation sqrt(n·p·(1−p)). Accepting |observed − n·p| up to
// 4.5 standard deviations has a two-sided tail probability near 7e-6 (normal approximation), so a
// correct control plane fails such a check about once in 150,000 runs. Call counts are chosen per
// test so that a plausibly wrong split (e.g. 50/50 instead of 90/10, or the old split after an edit)
// lies far outside the bound and fails.

const SIGMAS = 4.5;

interface ShareCheck {
  ok: boolean;
  observed: number;
  expected: number;
  allowed: number;
  describe: string;
}

/** Is `observed` out of `n` consistent with share `p`? */
function checkShare(observed: number, n: number, p: number, label = 'share'): ShareCheck {
  if (n <= 0) throw new Error('checkShare: n must be positive');
  const expected = n * p;
  const allowed = SIGMAS * Math.sqrt(n * p * (1 - p));
  // p = 0 or 1: the count must be exact (allowed is 0).
  const ok = Math.abs(observed - expected) <= allowed;
  return {
    ok,
    observed,
    expected,
    allowed,
    describe: `${label}: observed ${observed}/${n}, expected ${expected.toFixed(1)} ± ${allowed.toFixed(1)} (p=${p})`,
  };
}

/** Checks every backend's count against its expected share; `counts` may hold unexpected names (they need p=0). */
export function checkSplit(
  counts: ReadonlyMap<string, number>,
  n: number,
  shares: Record<string, number>,
): { ok: boolean; report: string } {
  const names = new Set([...counts.keys(), ...Object.keys(shares)]);
  const checks = [...names].sort().map((name) => checkShare(counts.get(name) ?? 0, n, shares[name] ?? 0, name));
  return { ok: checks.every((c) => c.ok), report: checks.map((c) => `${c.ok ? 'ok ' : 'BAD'} ${c.describe}`).join('\n') };
}
