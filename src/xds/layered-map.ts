// What one stream's client holds of a type (name -> version or resource), as a shared read-only
// base plus this stream's own differences. Proxies of a group are sent the same whole set when
// they connect, so 2,000 streams each keeping a 1,000-entry map of it cost ~60 MB; with the set's
// map as the base, a stream keeps only what changed for it since (an endpoint change: one entry).

/** An own entry that hides the base's entry of the same name. */
const REMOVED = Symbol('removed');

/** Own entries past which a map checks whether it holds exactly its group's newest whole set, to
 * take that set as its base: every change a stream hears of adds an own entry, and under steady
 * churn each stream's map would grow back into a full copy. Maps start checking at different
 * points in [REBASE_FROM, 2 × REBASE_FROM), so that the checks (each as long as the set) of
 * thousands of streams do not all fall on one change. */
const REBASE_FROM = 32;
let created = 0;

export class LayeredMap<V> {
  private base: ReadonlyMap<string, V> | undefined;
  private readonly own = new Map<string, V | typeof REMOVED>();
  private count = 0;
  private readonly firstRebaseAt = REBASE_FROM + (created++ % REBASE_FROM);
  private rebaseAt = this.firstRebaseAt;

  /** Starts over from `base` (never modified here; it must not change while it is the base). */
  resetTo(base: ReadonlyMap<string, V>): void {
    this.base = base;
    this.own.clear();
    this.count = base.size;
  }

  get size(): number {
    return this.count;
  }

  get(name: string): V | undefined {
    const mine = this.own.get(name);
    if (mine === REMOVED) return undefined;
    return mine !== undefined ? mine : this.base?.get(name);
  }

  has(name: string): boolean {
    const mine = this.own.get(name);
    if (mine !== undefined) return mine !== REMOVED;
    return this.base?.has(name) ?? false;
  }

  set(name: string, value: V): void {
    if (!this.has(name)) this.count++;
    if (this.base?.get(name) === value) this.own.delete(name);
    else this.own.set(name, value);
  }

  delete(name: string): boolean {
    if (!this.has(name)) return false;
    this.count--;
    if (this.base?.has(name)) this.own.set(name, REMOVED);
    else this.own.delete(name);
    return true;
  }

  /** Once the own entries have grown past the mark: takes `newest()` (a whole set, never modified)
   * as the base if this map holds exactly its entries; if not, checks again at twice as many. */
  rebaseWhenSame(newest: () => ReadonlyMap<string, V>): void {
    if (this.own.size < this.rebaseAt) return;
    const candidate = newest();
    if (this.holdsExactly(candidate)) {
      this.resetTo(candidate);
      this.rebaseAt = this.firstRebaseAt;
    } else {
      this.rebaseAt = this.own.size * 2;
    }
  }

  private holdsExactly(candidate: ReadonlyMap<string, V>): boolean {
    if (this.count !== candidate.size) return false;
    for (const [name, value] of candidate) if (this.get(name) !== value) return false;
    return true;
  }

  clear(): void {
    this.base = undefined;
    this.own.clear();
    this.count = 0;
  }

  *keys(): IterableIterator<string> {
    if (this.base) for (const name of this.base.keys()) if (this.has(name)) yield name;
    for (const [name, value] of this.own) if (value !== REMOVED && !this.base?.has(name)) yield name;
  }

  /** Own entries: what this stream keeps beyond the shared base (for tests and memory figures). */
  get ownSize(): number {
    return this.own.size;
  }
}
