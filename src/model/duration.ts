// Duration strings as Go's time.ParseDuration reads them (unsigned): "250ms", "1.5s", "1m30s",
// "2h", ".5s", "0" — what people write in Kubernetes manifests. The CRD's pattern
// (DURATION_PATTERN) accepts the same; the model rejects a bad one with the field path; the
// translator turns good ones into google.protobuf.Duration objects.

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)/y;

/** The longest google.protobuf.Duration (10,000 years, in ms): Envoy rejects anything longer. */
export const MAX_DURATION_MS = 315_576_000_000 * 1000;

/** Milliseconds, or undefined when `text` is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (typeof text !== 'string' || text.length === 0) return undefined;
  if (text === '0') return 0;
  let total = 0;
  PART.lastIndex = 0;
  let consumed = 0;
  while (consumed < text.length) {
    PART.lastIndex = consumed;
    const match = PART.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]];
    consumed = PART.lastIndex;
  }
  return total;
}

/** google.protobuf.Duration in fromObject form. Whole milliseconds are kept exactly. */
export function protoDuration(ms: number): { seconds: number; nanos?: number } {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1_000_000);
  return nanos ? { seconds, nanos } : { seconds };
}
