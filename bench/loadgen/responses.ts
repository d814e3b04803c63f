// Reading a response costs each simulated Envoy only a scan of the outer message: the
// resources part (every `resources` field) is compared byte for byte with ones this thread
// has already parsed — thousands of clients receive the very same CDS and EDS bytes — and
// parsed (names, versions, content hashes, EDS/RDS names they lead to) only when new.
import { hashBytes, readVarint, readVarintValue, varintEnd } from './wire.js';
import {
  CLUSTER_TYPE,
  LISTENER_TYPE,
  edsNameOfCluster,
  parseDeltaResponse,
  parseSotwResponse,
  routeNamesOfListener,
} from './xds-messages.js';

export interface ResponseHead {
  typeUrl: string;
  /** version_info (SotW) or system_version_info (delta). */
  version: string;
  nonce: string;
  /** Names in removed_resources (delta). */
  removed: string[];
  /** The `resources` fields, contiguous as encoders write them (copied together otherwise). */
  region: Buffer;
}

const utf8 = new TextDecoder();

/** Scans the outer DiscoveryResponse / DeltaDiscoveryResponse without touching the resources. */
export function scanResponse(buf: Buffer, delta: boolean): ResponseHead {
  const head: ResponseHead = { typeUrl: '', version: '', nonce: '', removed: [], region: buf.subarray(0, 0) };
  const ranges: Array<[number, number]> = [];
  let pos = 0;
  const end = buf.length;
  while (pos < end) {
    const tagStart = pos;
    const key = readVarintValue(buf, pos);
    pos = varintEnd;
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (wireType === 0) {
      readVarintValue(buf, pos);
      pos = varintEnd;
      continue;
    }
    if (wireType === 1 || wireType === 5) {
      pos += wireType === 1 ? 8 : 4;
      continue;
    }
    if (wireType !== 2) throw new Error(`xDS response: unsupported wire type ${wireType} for field ${field}`);
    const length = readVarintValue(buf, pos);
    pos = varintEnd;
    const valueEnd = pos + length;
    if (valueEnd > end) throw new Error(`xDS response: field ${field} overruns the message`);
    if (field === 2) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] === tagStart) last[1] = valueEnd;
      else ranges.push([tagStart, valueEnd]);
    } else if (field === 1) head.version = utf8.decode(buf.subarray(pos, valueEnd));
    else if (field === 4) head.typeUrl = utf8.decode(buf.subarray(pos, valueEnd));
    else if (field === 5) head.nonce = utf8.decode(buf.subarray(pos, valueEnd));
    else if (delta && field === 6) head.removed.push(utf8.decode(buf.subarray(pos, valueEnd)));
    pos = valueEnd;
  }
  if (pos !== end) throw new Error('xDS response: the message ends inside a field');
  if (ranges.length === 1) head.region = buf.subarray(ranges[0]![0], ranges[0]![1]);
  else if (ranges.length > 1) head.region = Buffer.concat(ranges.map(([a, b]) => buf.subarray(a, b)));
  return head;
}

/** The resources of a response, parsed once per thread and shared by every client that got the same bytes. */
export interface ParsedResources {
  names: string[];
  /** Delta: the server's per-resource versions; SotW: ''. */
  versions: string[];
  /** A hash of each resource message (Any.value): equal bytes, equal hash. */
  hashes: Uint32Array;
  /** Each resource message's range in the region it was parsed from. */
  starts: Uint32Array;
  ends: Uint32Array;
  /** CDS: the EDS name of each cluster (none if not EDS); LDS: the route names of each listener. */
  derived: Array<readonly string[]> | undefined;
  /** Lazily: name -> position. */
  index?: Map<string, number>;
  /** Lazily: the interned wildcard set these resources make on their own. */
  wholeSet?: unknown;
}

export function positionOf(parsed: ParsedResources, name: string): number {
  parsed.index ??= new Map(parsed.names.map((n, i) => [n, i]));
  return parsed.index.get(name) ?? -1;
}

export function parseResources(region: Buffer, typeUrl: string, delta: boolean): ParsedResources {
  const slices = delta ? parseDeltaResponse(region).resources : parseSotwResponse(region).resources;
  const count = slices.length;
  const parsed: ParsedResources = {
    names: new Array<string>(count),
    versions: new Array<string>(count),
    hashes: new Uint32Array(count),
    starts: new Uint32Array(count),
    ends: new Uint32Array(count),
    derived: typeUrl === CLUSTER_TYPE || typeUrl === LISTENER_TYPE ? new Array<readonly string[]>(count) : undefined,
  };
  slices.forEach((slice, i) => {
    const name = 'name' in slice ? (slice.name as string) : nameOf(region, slice.valueStart, slice.valueEnd);
    parsed.names[i] = name;
    parsed.versions[i] = 'version' in slice ? (slice.version as string) : '';
    parsed.hashes[i] = hashBytes(region, slice.valueStart, slice.valueEnd);
    parsed.starts[i] = slice.valueStart;
    parsed.ends[i] = slice.valueEnd;
    if (typeUrl === CLUSTER_TYPE) {
      const edsName = edsNameOfCluster(region, slice);
      parsed.derived![i] = edsName ? [edsName] : [];
    } else if (typeUrl === LISTENER_TYPE) parsed.derived![i] = routeNamesOfListener(region, slice);
  });
  return parsed;
}

/** Field 1 (the name) of a resource message. */
function nameOf(buf: Buffer, start: number, end: number): string {
  let pos = start;
  while (pos < end) {
    let key: number;
    [key, pos] = readVarint(buf, pos);
    const wireType = key & 7;
    if (wireType === 0) [, pos] = readVarint(buf, pos);
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      let length: number;
      [length, pos] = readVarint(buf, pos);
      if (Math.floor(key / 8) === 1) return utf8.decode(buf.subarray(pos, pos + length));
      pos += length;
    } else throw new Error(`xDS resource: unsupported wire type ${wireType}`);
  }
  return '';
}

const ENTRIES_PER_KEY = 4;
const MAX_KEYS = 256;

/** Recently parsed resource regions of one thread, by type, flavour and length. */
export class ResponseMemo {
  private readonly entries = new Map<string, Array<{ region: Buffer; parsed: ParsedResources }>>();
  hits = 0;
  misses = 0;

  parse(region: Buffer, typeUrl: string, delta: boolean): ParsedResources {
    if (this.entries.size > MAX_KEYS) this.entries.clear();
    const key = `${delta ? 'd' : 's'}${region.length}${typeUrl}`;
    let list = this.entries.get(key);
    if (list) {
      for (const entry of list) {
        if (entry.region.equals(region)) {
          this.hits++;
          return entry.parsed;
        }
      }
    } else {
      list = [];
      this.entries.set(key, list);
    }
    this.misses++;
    const parsed = parseResources(region, typeUrl, delta);
    // A copy: the response buffer belongs to the stream that received it.
    list.unshift({ region: Buffer.from(region), parsed });
    if (list.length > ENTRIES_PER_KEY) list.pop();
    return parsed;
  }
}
