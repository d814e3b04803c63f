// Subscriptions shared between streams: every state-of-the-world request's, and a delta stream's
// first. Proxies of one group ask for the same names in the same order (every sidecar watches
// every cluster's endpoints), and each request decodes into fresh strings: kept per stream, 2,000
// copies of a 1,000-name list cost ~100 MB. A pooled subscription is frozen; a stream that asks
// for something else gets another one (a delta stream copies its set before changing it).

export interface Subscription {
  readonly key: string;
  readonly typeUrl: string;
  readonly dropWildcard: boolean;
  /** The names as requested (in order), using the cache's own name strings where it has them. */
  readonly list: readonly string[];
  readonly set: ReadonlySet<string>;
  /** The resource_names entries as they came on the wire: a request carrying the same bytes
   * asks for this subscription (one copy per pooled subscription, not per stream). */
  raw?: Buffer;
}

/** Distinct subscriptions remembered; past it the oldest is dropped (streams keep theirs). */
const POOL_SIZE = 64;

export class SubscriptionPool {
  private readonly byKey = new Map<string, Subscription>();

  /** The pooled subscription equal to `requested` (`*` left out when `dropWildcard`); `canonical`
   * maps a name to the string to keep for it. */
  get(
    typeUrl: string,
    requested: readonly string[],
    dropWildcard: boolean,
    canonical: (name: string) => string,
    raw?: Uint8Array,
  ): Subscription {
    const key = `${typeUrl} ${dropWildcard ? 1 : 0} ${requested.join('\n')}`;
    const pooled = this.byKey.get(key);
    // A name holding '\n' could make two lists share a key: compare before reusing.
    if (pooled && sameList(pooled.list, requested)) {
      this.touch(pooled);
      if (!pooled.raw && raw) pooled.raw = Buffer.from(raw);
      return pooled;
    }
    const list = requested.map(canonical);
    const set = new Set(dropWildcard ? list.filter((name) => name !== '*') : list);
    const subscription: Subscription = { key, typeUrl, dropWildcard, list, set, ...(raw ? { raw: Buffer.from(raw) } : {}) };
    this.byKey.set(key, subscription);
    if (this.byKey.size > POOL_SIZE) this.byKey.delete(this.byKey.keys().next().value!);
    return subscription;
  }

  /** The pooled subscription whose request carried exactly these resource-name bytes: a first
   * request like thousands before it is not decoded, and its names are the pool's strings. */
  find(typeUrl: string, dropWildcard: boolean, raw: Uint8Array): Subscription | undefined {
    for (const pooled of this.byKey.values()) {
      if (pooled.typeUrl === typeUrl && pooled.dropWildcard === dropWildcard && pooled.raw?.equals(raw)) {
        this.touch(pooled);
        return pooled;
      }
    }
    return undefined;
  }

  /** Marks a subscription as the most recently used. */
  private touch(pooled: Subscription): void {
    this.byKey.delete(pooled.key);
    this.byKey.set(pooled.key, pooled);
  }
}

export function sameList(previous: readonly string[] | undefined, requested: readonly string[]): boolean {
  if (previous === requested) return true;
  if (previous === undefined || previous.length !== requested.length) return false;
  for (let i = 0; i < requested.length; i++) if (previous[i] !== requested[i]) return false;
  return true;
}
