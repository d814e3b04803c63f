// The resource cache: every resource is encoded to protobuf bytes once, versioned by a hash
// of those bytes, and shared by every group (and, downstream, every stream) that holds it.
import { hash } from 'node:crypto';
import { encodeMessageTransient, type TypeUrl, type XdsResource } from '../envoy/protos.js';
import { FlatWriter, Scratch } from '../envoy/flat-writer.js';
import { describeViolation, validateResource, type Violation } from '../envoy/validation-rules.js';
import { log } from '../log.js';
import {
  isEncoded,
  type CachedResource,
  type ChangeSet,
  type EncodedResource,
  type GroupChange,
  type OfferedResource,
  type ProxyGroup,
  type RefusedResource,
  type ResourceCache as ResourceCacheContract,
} from './types.js';

/** Counters that show the encode-once and sharing behaviour (also useful as metrics). */
interface ResourceCacheStats {
  /** protobuf encodes performed since the cache was created. */
  encodes: number;
  /** Distinct stored resources (type + name + bytes), however many groups share each. */
  storedResources: number;
}

/** The version of a byte string: the first 16 hex digits of its sha256. */
function bytesVersion(bytes: Uint8Array): string {
  // The one-shot form: no Hash object per resource (20,000 of them for a 10,000-Service mesh).
  return hash('sha256', bytes, 'hex').slice(0, 16);
}

interface StoredEntry {
  resource: CachedResource;
  /** How many (group, type) sets hold this exact resource. */
  refs: number;
  /** Another stored version of the same type and name (a few at most: an assignment's TLS-tagged variant, a group a change behind). */
  next: StoredEntry | undefined;
}

type TypeMap = Map<string, CachedResource>;

/** A change with its resources encoded and held, and the names refused. */
interface PreparedChange {
  change: GroupChange;
  resources: CachedResource[];
  refused: ReadonlySet<string>;
}

/** A resource that breaks one of Envoy's validation rules: refused alone, the batch goes on. */
class RuleViolations extends Error {
  constructor(
    readonly violations: readonly Violation[],
    /** What a refusal is reported once for: the plain value, or the encoded resource that carries the refusal. */
    readonly offered: object,
  ) {
    super('breaks Envoy validation rules');
  }
}

const EMPTY: ReadonlyMap<string, CachedResource> = new Map();
/** In `apply`: a set that was empty when the batch first touched it (no names recorded). */
const WAS_EMPTY = Symbol('was empty');
const NONE: ReadonlySet<string> = new Set();

/**
 * Resource values are treated as immutable once applied: encodings are memoized by object
 * identity, so a changed resource must be a new object.
 */
export class ResourceCache implements ResourceCacheContract {
  /** By value object identity, a resource with its bytes: a value shared by several groups or names is encoded once. */
  private readonly encodedValues = new Map<TypeUrl, WeakMap<object, CachedResource>>();
  /** One CachedResource per (type, name, version), shared by every group that has it. */
  private readonly stored = new Map<TypeUrl, Map<string, StoredEntry>>();
  private storedCount = 0;
  /** The same entries by the stored object: retain and release find them without building the key. */
  private readonly entries = new Map<CachedResource, StoredEntry>();
  private readonly byGroup = new Map<ProxyGroup, Map<TypeUrl, TypeMap>>();
  /** Memoized set versions by group and type, dropped when the set changes. Asked for by every
   * stream on every push, so the lookup builds no key string. */
  private readonly setVersions = new Map<ProxyGroup, Map<TypeUrl, string>>();
  /** Per set whose version has been asked for: its digest, kept up to date by `apply` from then on. */
  private readonly setDigests = new Map<string, bigint>();
  /** By resource: its name:version pair's share of a set digest (shared by every group holding it). */
  private readonly pairDigests = new WeakMap<CachedResource, bigint>();
  private readonly listeners = new Set<(changes: ChangeSet) => void>();
  private readonly refusedListeners = new Set<(refused: RefusedResource) => void>();
  /** Per (group, type): the refused value last reported for a name, so a value offered again is not reported again. */
  private readonly reported = new Map<string, Map<string, object>>();
  private encodes = 0;

  encode(resource: OfferedResource, group?: ProxyGroup): EncodedResource {
    if (isEncoded(resource)) return resource;
    try {
      return { typeUrl: resource.typeUrl, name: resource.name, cached: this.cachedFor(resource, group) };
    } catch (err) {
      if (err instanceof RuleViolations) return { typeUrl: resource.typeUrl, name: resource.name, violations: err.violations };
      throw err;
    }
  }

  /**
   * Applies a batch atomically: every resource is encoded before anything is stored, so a
   * resource that cannot be encoded fails the batch with an error that names it, and the
   * cache keeps its previous state. A resource that breaks one of Envoy's validation rules is
   * refused alone: it is logged and announced to `onRefused` listeners, its group keeps the
   * last good version of that name (or goes without it), and the rest of the batch applies.
   */
  apply(changes: GroupChange[]): ChangeSet {
    const prepared: PreparedChange[] = [];
    try {
      for (const change of changes) prepared.push(this.prepare(change));
    } catch (err) {
      this.releaseAll(prepared);
      throw err;
    }

    // The state of every touched name before the batch, recorded the first time it is touched,
    // so several changes to one name within a batch compare against where it started. A set
    // empty when the batch first touches it (every set of a first flush) records nothing while
    // names only come: each was absent before, and the set's own order is the order they were
    // first touched in. A name dropping from it records, from then on, every name as before.
    const before = new Map<ProxyGroup, Map<TypeUrl, Map<string, CachedResource | undefined> | typeof WAS_EMPTY>>();
    const touch = (group: ProxyGroup, typeUrl: TypeUrl, current: TypeMap, name: string, dropping: boolean): void => {
      let types = before.get(group);
      if (!types) before.set(group, (types = new Map()));
      let names = types.get(typeUrl);
      if (names === WAS_EMPTY) {
        if (!dropping) return;
        names = new Map();
        for (const held of current.keys()) names.set(held, undefined);
        types.set(typeUrl, names);
      } else if (!names) {
        if (current.size === 0) {
          types.set(typeUrl, WAS_EMPTY);
          return;
        }
        types.set(typeUrl, (names = new Map()));
      }
      if (!names.has(name)) names.set(name, current.get(name));
    };

    // Indexed loops over the batch: a first flush is 20,000 resources, mostly before this is
    // optimized, and for-of then makes an iterator result (and an entry array, over a map) per item.
    for (let i = 0; i < prepared.length; i++) {
      const { change, resources, refused } = prepared[i];
      const current = this.typeMap(change.group, change.typeUrl, true);
      if (change.set) {
        // A refused resource keeps its last good version (if it had one): it is not a removal.
        const incoming = new Set([...resources.map((r) => r.name), ...refused]);
        this.forgetReported(change.group, change.typeUrl, (name) => !incoming.has(name));
        for (const name of [...current.keys()]) {
          if (!incoming.has(name)) {
            touch(change.group, change.typeUrl, current, name, true);
            this.drop(current, name);
          }
        }
      } else if (change.removals?.length) {
        // (Most upserts remove nothing: no set to build then.)
        const removals = new Set(change.removals);
        this.forgetReported(change.group, change.typeUrl, (name) => removals.has(name));
        for (const name of removals) {
          if (!current.has(name)) continue;
          touch(change.group, change.typeUrl, current, name, true);
          this.drop(current, name);
        }
      }
      for (let j = 0; j < resources.length; j++) {
        const resource = resources[j];
        const previous = current.get(resource.name);
        if (previous === resource) continue;
        touch(change.group, change.typeUrl, current, resource.name, false);
        if (previous) this.release(previous);
        current.set(resource.name, resource);
        this.retain(resource);
      }
    }

    const changeSet: ChangeSet = new Map();
    for (const [group, types] of before) {
      for (const [typeUrl, names] of types) {
        const current = this.typeMap(group, typeUrl, false) ?? EMPTY;
        const changed = new Set<string>(names === WAS_EMPTY ? current.keys() : undefined);
        const removed = new Set<string>();
        if (names !== WAS_EMPTY) {
          names.forEach((old, name) => {
            const now = current.get(name);
            if (!now) {
              if (old) removed.add(name);
            } else if (!old || old.version !== now.version) {
              changed.add(name);
            }
          });
        }
        if (changed.size === 0 && removed.size === 0) continue;
        const key = setKey(group, typeUrl);
        this.setVersions.get(group)?.delete(typeUrl);
        const digest = this.setDigests.get(key);
        if (digest !== undefined) {
          // What left the set and what came in: the work follows the change, not the set's size.
          let next = digest;
          for (const name of removed) next -= this.pairDigest((names as Map<string, CachedResource>).get(name)!);
          for (const name of changed) {
            const old = names === WAS_EMPTY ? undefined : names.get(name);
            if (old) next -= this.pairDigest(old);
            next += this.pairDigest(current.get(name)!);
          }
          this.setDigests.set(key, BigInt.asUintN(128, next));
        }
        let groupChanges = changeSet.get(group);
        if (!groupChanges) changeSet.set(group, (groupChanges = new Map()));
        groupChanges.set(typeUrl, { changed, removed });
      }
    }
    // Every resource taken in `prepare` was retained once for safety; balance that now.
    this.releaseAll(prepared);

    if (changeSet.size > 0) this.notify(changeSet);
    return changeSet;
  }

  resources(group: ProxyGroup, typeUrl: TypeUrl): ReadonlyMap<string, CachedResource> {
    return this.typeMap(group, typeUrl, false) ?? EMPTY;
  }

  get(group: ProxyGroup, typeUrl: TypeUrl, name: string): CachedResource | undefined {
    return this.typeMap(group, typeUrl, false)?.get(name);
  }

  /**
   * A hash of the set's digest: the sum (modulo 2^128) of a sha256 of each name:version pair.
   * Equal sets have equal versions, whatever the order they were built in; any change to a set
   * gives it another. The first call walks the set; after it, `apply` keeps the digest up to
   * date with the names a change touched, so a change to one of 10,000 resources costs one pair.
   */
  setVersion(group: ProxyGroup, typeUrl: TypeUrl): string {
    let versions = this.setVersions.get(group);
    const memo = versions?.get(typeUrl);
    if (memo !== undefined) return memo;
    const key = setKey(group, typeUrl);
    let digest = this.setDigests.get(key);
    if (digest === undefined) {
      digest = 0n;
      for (const resource of this.resources(group, typeUrl).values()) digest += this.pairDigest(resource);
      digest = BigInt.asUintN(128, digest);
      this.setDigests.set(key, digest);
    }
    const version = hash('sha256', digest.toString(16), 'hex').slice(0, 16);
    if (!versions) this.setVersions.set(group, (versions = new Map()));
    versions.set(typeUrl, version);
    return version;
  }

  groups(): ProxyGroup[] {
    return [...this.byGroup.keys()];
  }

  onChange(listener: (changes: ChangeSet) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  onRefused(listener: (refused: RefusedResource) => void): () => void {
    this.refusedListeners.add(listener);
    return () => {
      this.refusedListeners.delete(listener);
    };
  }

  stats(): ResourceCacheStats {
    return { encodes: this.encodes, storedResources: this.storedCount };
  }

  /** Validates and encodes one change's resources, sharing stored resources where the bytes match. */
  private prepare(change: GroupChange): PreparedChange {
    const list = change.set ?? change.upserts ?? [];
    // Most changes hold one resource (a Service's cluster, its assignment): no set of names for those.
    const seen = list.length > 1 ? new Set<string>() : undefined;
    const resources: CachedResource[] = [];
    let refused: Set<string> | undefined;
    for (const resource of list) {
      if (resource.typeUrl !== change.typeUrl) {
        throw new Error(
          `${whereOf(change.group, change.typeUrl)}: resource "${resource.name}" has type ${resource.typeUrl}; a change holds one type`,
        );
      }
      if (seen) {
        if (seen.has(resource.name)) {
          throw new Error(
            `${whereOf(change.group, change.typeUrl)}: resource "${resource.name}" appears twice; names must be unique within a type`,
          );
        }
        seen.add(resource.name);
      }
      let cached: CachedResource;
      try {
        cached = this.intern(resource, change.group);
      } catch (err) {
        if (err instanceof RuleViolations) {
          (refused ??= new Set()).add(resource.name);
          this.reportRefused(change.group, resource, err);
          continue;
        }
        for (const held of resources) this.release(held);
        throw err;
      }
      // Most batches follow no refusal: no key to build per resource then.
      if (this.reported.size > 0) this.forgetReportedName(change.group, change.typeUrl, resource.name);
      // Held until the batch is applied, so a resource dropped and re-added in one batch survives.
      this.retain(cached);
      resources.push(cached);
    }
    return { change, resources, refused: refused ?? NONE };
  }

  /** The stored form of a resource (stored now if its bytes are new); throws RuleViolations for a refused one. */
  private intern(resource: OfferedResource, group: ProxyGroup): CachedResource {
    let cached: CachedResource;
    if (isEncoded(resource)) {
      if (!resource.cached) throw new RuleViolations(resource.violations, resource);
      cached = resource.cached;
    } else {
      cached = this.cachedFor(resource, group);
    }
    // Already stored (most often: it came from `encode`, which found it): its own entry.
    if (this.entries.has(cached)) return cached;
    const existing = this.findStored(cached.typeUrl, cached.name, cached.version);
    if (existing) return existing.resource;
    let byName = this.stored.get(cached.typeUrl);
    if (!byName) this.stored.set(cached.typeUrl, (byName = new Map()));
    const entry: StoredEntry = { resource: cached, refs: 0, next: byName.get(cached.name) };
    byName.set(cached.name, entry);
    this.storedCount++;
    this.entries.set(cached, entry);
    return cached;
  }

  /** The stored resource of this type, name and version (found by type and name: no key string built and kept per resource). */
  private findStored(typeUrl: TypeUrl, name: string, version: string): StoredEntry | undefined {
    let entry = this.stored.get(typeUrl)?.get(name);
    while (entry && entry.resource.version !== version) entry = entry.next;
    return entry;
  }

  private forgetStored(entry: StoredEntry): void {
    const { typeUrl, name } = entry.resource;
    const byName = this.stored.get(typeUrl)!;
    let at = byName.get(name);
    if (at === entry) {
      if (entry.next) byName.set(name, entry.next);
      else byName.delete(name);
    } else {
      while (at && at.next !== entry) at = at.next;
      if (at) at.next = entry.next;
    }
    this.storedCount--;
  }

  /** The stored resource with this value's bytes if there is one, else a new one (not stored yet). */
  private cachedFor(resource: XdsResource, group: ProxyGroup | undefined): CachedResource {
    // A resource that writes its own bytes has checked its own rules; undefined: encode and check its value.
    const own = resource.encode ? this.encodeOwn(resource, group) : undefined;
    if (own) return this.storedOrBuilt(resource, own, bytesVersion(own));
    // One weak map per type (a value is almost always offered as one type only): no map per value.
    let byValue = this.encodedValues.get(resource.typeUrl);
    const memo = byValue?.get(resource.value);
    if (memo) {
      const cached = this.storedOrBuilt(resource, memo.bytes, memo.version);
      byValue!.set(resource.value, cached);
      return cached;
    }
    const bytes = this.encodeValue(resource, group);
    const cached = this.storedOrBuilt(resource, bytes, bytesVersion(bytes));
    // The memo keeps the resource, whose bytes are its own (the encoded ones are the encoder's scratch).
    if (!byValue) this.encodedValues.set(resource.typeUrl, (byValue = new WeakMap()));
    byValue.set(resource.value, cached);
    return cached;
  }

  /** The stored resource of these bytes, or a new one with a copy of them (they may be the encoder's scratch). */
  private storedOrBuilt(resource: XdsResource, bytes: Uint8Array, version: string): CachedResource {
    return this.findStored(resource.typeUrl, resource.name, version)?.resource ?? buildCachedResource(resource, bytes, version);
  }

  /** A value's bytes, checked against Envoy's rules: a view of the encoder's scratch, valid until the next encode. */
  private encodeValue(resource: XdsResource, group: ProxyGroup | undefined): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = encodeMessageTransient(resource.typeUrl, resource.value);
    } catch (err) {
      throw new Error(`${whereOf(group, resource.typeUrl)}: resource "${resource.name}" cannot be encoded: ${(err as Error).message}`, {
        cause: err,
      });
    }
    // Envoy refuses a whole response for one resource that breaks a rule: check before it can be
    // sent. A refused value offered again is checked again: refusals are rare. (The rules encode
    // nothing: the bytes stay valid.)
    const violations = validateResource(resource.typeUrl, resource.value);
    if (violations.length > 0) throw new RuleViolations(violations, resource.value);
    this.encodes++;
    return bytes;
  }

  /** A resource's own bytes (a view of the encoder's scratch, like `encodeValue`'s), or undefined: encode its value. */
  private encodeOwn(resource: XdsResource, group: ProxyGroup | undefined): Uint8Array | undefined {
    let bytes: Uint8Array | undefined;
    try {
      bytes = resource.encode!();
    } catch (err) {
      throw new Error(`${whereOf(group, resource.typeUrl)}: resource "${resource.name}" cannot be encoded: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (bytes) this.encodes++;
    return bytes;
  }

  /** Logs and announces a refusal once per offered value (a flush that offers it again stays quiet). */
  private reportRefused(group: ProxyGroup, resource: OfferedResource, { violations, offered }: RuleViolations): void {
    const key = setKey(group, resource.typeUrl);
    let names = this.reported.get(key);
    if (names?.get(resource.name) === offered) return;
    if (!names) this.reported.set(key, (names = new Map()));
    names.set(resource.name, offered);
    const lines = violations.map((violation) => describeViolation(resource.typeUrl, resource.name, violation));
    const kept = this.typeMap(group, resource.typeUrl, false)?.has(resource.name);
    log.error('resource refused: it breaks a rule Envoy enforces, and Envoy would reject the whole response with it', {
      group,
      resource: resource.name,
      type: resource.typeUrl,
      served: kept ? 'the last good version' : 'nothing (it has no good version yet)',
      violations: lines,
    });
    const refused: RefusedResource = { group, typeUrl: resource.typeUrl, name: resource.name, violations: lines };
    for (const listener of [...this.refusedListeners]) {
      try {
        listener(refused);
      } catch (err) {
        log.error('cache refusal listener failed', { error: (err as Error).message });
      }
    }
  }

  private forgetReportedName(group: ProxyGroup, typeUrl: TypeUrl, name: string): void {
    const key = setKey(group, typeUrl);
    const names = this.reported.get(key);
    if (!names) return;
    names.delete(name);
    if (names.size === 0) this.reported.delete(key);
  }

  private forgetReported(group: ProxyGroup, typeUrl: TypeUrl, gone: (name: string) => boolean): void {
    if (this.reported.size === 0) return;
    const key = setKey(group, typeUrl);
    const names = this.reported.get(key);
    if (!names) return;
    for (const name of [...names.keys()]) if (gone(name)) names.delete(name);
    // Emptied sets go, so the batches after the last refusal take the fast path again.
    if (names.size === 0) this.reported.delete(key);
  }

  /** A name:version pair as a 128-bit number: its share of the digest of every set holding it. */
  private pairDigest(resource: CachedResource): bigint {
    let digest = this.pairDigests.get(resource);
    if (digest === undefined) {
      digest = BigInt(`0x${hash('sha256', `${resource.name}\0${resource.version}`, 'hex').slice(0, 32)}`);
      this.pairDigests.set(resource, digest);
    }
    return digest;
  }

  private releaseAll(prepared: readonly PreparedChange[]): void {
    for (let i = 0; i < prepared.length; i++) {
      const { resources } = prepared[i];
      for (let j = 0; j < resources.length; j++) this.release(resources[j]);
    }
  }

  private retain(resource: CachedResource): void {
    const entry = this.entries.get(resource);
    if (entry) entry.refs++;
  }

  private release(resource: CachedResource): void {
    const entry = this.entries.get(resource);
    if (!entry) return;
    entry.refs--;
    if (entry.refs > 0) return;
    this.forgetStored(entry);
    this.entries.delete(resource);
  }

  /** Removes a name the map holds (both callers check it does). */
  private drop(current: TypeMap, name: string): void {
    this.release(current.get(name)!);
    current.delete(name);
  }

  private typeMap(group: ProxyGroup, typeUrl: TypeUrl, create: true): TypeMap;
  private typeMap(group: ProxyGroup, typeUrl: TypeUrl, create: false): TypeMap | undefined;
  private typeMap(group: ProxyGroup, typeUrl: TypeUrl, create: boolean): TypeMap | undefined {
    let types = this.byGroup.get(group);
    if (!types) {
      if (!create) return undefined;
      this.byGroup.set(group, (types = new Map()));
    }
    let names = types.get(typeUrl);
    if (!names && create) types.set(typeUrl, (names = new Map()));
    return names;
  }

  private notify(changeSet: ChangeSet): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(changeSet);
      } catch (err) {
        // One failing listener must not keep the others (other streams) from hearing the change.
        log.error('cache change listener failed', { error: (err as Error).message });
      }
    }
  }
}

/** Where resource headers are written: a message's bytes may be in the encoders' scratch meanwhile. */
const headerScratch = new Scratch(Buffer.allocUnsafe(1024));

/** Where an error happened, for its message (built only then): a group's change, or the type alone when encoding ahead of one. */
function whereOf(group: ProxyGroup | undefined, typeUrl: TypeUrl): string {
  return group === undefined ? `type ${typeUrl}` : `cache change for group "${group}", type ${typeUrl}`;
}

function setKey(group: ProxyGroup, typeUrl: TypeUrl): string {
  return `${group}\0${typeUrl}`;
}

/**
 * Builds the three encodings in one buffer: the delta `Resource` ends with its `Any`, and the
 * `Any` ends with the message bytes, so `anyBytes` and `bytes` are views into `deltaBytes`.
 *   Resource { name = 3; version = 1; resource = 2 (Any { type_url = 1; value = 2 }) }
 */
function buildCachedResource({ typeUrl, name }: XdsResource, message: Uint8Array, version: string): CachedResource {
  const anyLength = lengthOfAny(typeUrl, message.length);
  // The flat writer: no operation object per field (protobufjs' Writer queues one), the same bytes.
  // Its own scratch: the message may still be in the encoders'.
  const writer = new FlatWriter(headerScratch);
  writer.uint32((3 << 3) | 2).string(name);
  writer.uint32((1 << 3) | 2).string(version);
  writer.uint32((2 << 3) | 2).uint32(anyLength);
  writer.uint32((1 << 3) | 2).string(typeUrl);
  // The message's bytes go straight into the result (not through the writer's buffer first).
  writer.uint32((2 << 3) | 2).uint32(message.length);
  return new StoredResource(typeUrl, name, version, writer.finishWith(message), anyLength, message.length);
}

/**
 * A stored resource: its delta `Resource` bytes, and views of the `Any` and the message at their
 * end, each made when first read (SotW streams read the one, the config dump the other; a first
 * flush reads neither, for 20,000 resources at 10,000 Services).
 */
class StoredResource implements CachedResource {
  private any: Uint8Array | undefined;
  private message: Uint8Array | undefined;

  constructor(
    readonly typeUrl: TypeUrl,
    readonly name: string,
    readonly version: string,
    readonly deltaBytes: Buffer,
    private readonly anyLength: number,
    private readonly messageLength: number,
  ) {}

  get anyBytes(): Uint8Array {
    return (this.any ??= this.deltaBytes.subarray(this.deltaBytes.length - this.anyLength));
  }

  get bytes(): Uint8Array {
    return (this.message ??= this.deltaBytes.subarray(this.deltaBytes.length - this.messageLength));
  }
}

function lengthOfAny(typeUrl: string, valueLength: number): number {
  const typeUrlLength = Buffer.byteLength(typeUrl);
  return 1 + varintLength(typeUrlLength) + typeUrlLength + 1 + varintLength(valueLength) + valueLength;
}

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    length++;
  }
  return length;
}
