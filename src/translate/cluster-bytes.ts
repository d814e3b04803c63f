// A Cluster that is its name plus parts shared by many Clusters (deeply frozen: the EDS config,
// the connect timeout, the load-balancing fields of a Service without a TrafficPolicy), written
// straight to bytes: on a 10,000-Service mesh most Clusters are this, and each went through the
// general encoder and the validation rules whole, to find the same parts again. The name is
// field 1, the first a Cluster's bytes hold, so the bytes are the name's followed by those of the
// shared parts alone: exactly `encodeMessage` of `{ name, ...shared }`. The name is checked with
// Envoy's compiled rules (`fieldPasses`), and the shared parts are encoded and checked once per
// object; anything a rule refuses is left to the general path, which reports it.
import type protobuf from 'protobufjs';
import { FlatWriter } from '../envoy/flat-writer.js';
import { fieldTag } from '../envoy/direct-encode.js';
import { encodeMessage, messageType, TypeUrl, type XdsResource } from '../envoy/protos.js';
import { fieldPasses, validateMessage } from '../envoy/validation-rules.js';
import { isDeepFrozen } from '../envoy/frozen.js';

/**
 * A Cluster of its name and shared parts. It writes its own bytes (`encode`, what the cache takes)
 * and builds its plain object only when something reads `value`. A class: 10,000 of them at start-up.
 */
export class SharedPartsCluster implements XdsResource {
  readonly typeUrl = TypeUrl.Cluster;
  private built: object | undefined;

  constructor(
    readonly name: string,
    /** Every field but the name, deeply frozen. */
    private readonly shared: object,
  ) {}

  /** Every field but the name (frozen): what a reader of one field needs, without the plain object built. */
  get parts(): object {
    return this.shared;
  }

  get value(): object {
    return (this.built ??= { name: this.name, ...this.shared });
  }

  encode(): Uint8Array | undefined {
    return encodeCluster(this.name, this.shared);
  }

  /** As JSON, a resource like any other: its type, name and value. */
  toJSON(): XdsResource {
    return { typeUrl: this.typeUrl, name: this.name, value: this.value };
  }
}

/**
 * The bytes of `{ name, ...shared }` as a Cluster, or undefined when a rule may refuse it (the
 * general path then says which). They are a view of the encoders' scratch, valid only until the next encode.
 */
export function encodeCluster(name: string, shared: object): Uint8Array | undefined {
  const plan = (layout ??= planLayout());
  if (typeof name !== 'string' || !plan.name(name)) return undefined;
  // Before the writer starts: encoding the parts the first time uses the encoders' scratch.
  const rest = plan.sharedBytes(shared);
  if (!rest) return undefined;
  return new FlatWriter().uint32(plan.nameTag).string(name).raw(rest).view();
}

interface Layout {
  nameTag: number;
  name: (value: unknown) => boolean;
  /** The bytes of the shared parts (once per frozen object); undefined when they hold a name or may break a rule. */
  sharedBytes: (shared: object) => Uint8Array | undefined;
}

let layout: Layout | undefined;

function planLayout(): Layout {
  const cluster = messageType(TypeUrl.Cluster);
  const name = cluster.fields.name;
  // The name's bytes come first only if no field has a lower number; and whether it is set must not
  // decide a oneof the rules require, so the shared parts' check holds for the whole Cluster.
  if (name.partOf || cluster.fieldsArray.some((field) => field.id < name.id)) {
    throw new Error('a Cluster name must be its first field, outside any oneof');
  }
  const namePasses = fieldPasses(cluster, 'name');
  if (!namePasses(NAME_PROBE)) throw new Error(`a Cluster named "${NAME_PROBE}" must pass the name's rules`);
  const memo = new WeakMap<object, Uint8Array | null>();
  return {
    nameTag: fieldTag(cluster, 'name'),
    name: namePasses,
    sharedBytes(shared) {
      let bytes = memo.get(shared);
      if (bytes === undefined) {
        bytes = sharedPartsBytes(cluster, shared);
        // Only parts that cannot change may be remembered.
        if (isDeepFrozen(shared)) memo.set(shared, bytes);
      }
      return bytes ?? undefined;
    },
  };
}

/** A name that passes the name's rules, to check the shared parts with: a Cluster must have a name. */
const NAME_PROBE = 'probe';

/**
 * The shared parts' bytes, or null. A Cluster's rules are per field (set or unset) and per required
 * oneof: with the name passing its own, the whole passes exactly when the parts do beside any
 * name that passes.
 */
function sharedPartsBytes(cluster: protobuf.Type, shared: object): Uint8Array | null {
  if (Object.prototype.hasOwnProperty.call(shared, 'name')) return null;
  if (validateMessage(cluster, { name: NAME_PROBE, ...shared }).length > 0) return null;
  try {
    return encodeMessage(TypeUrl.Cluster, shared);
  } catch {
    // Not encodable (an unknown field): the general path reports it.
    return null;
  }
}
