// Envoy's protoc-gen-validate rules, read from the descriptors: every rule kind is caught (on a
// synthetic message that uses each one, and on real Envoy messages), and nothing Switchyard
// renders — the golden files, the examples for every role — breaks one.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { encodeMessage, envoyRoot, SERVED_TYPE_URLS, TypeUrl, type XdsResource } from '../../src/envoy/protos.js';
import { fromProto3Json } from '../../src/envoy/proto-json.js';
import { deepFreeze } from '../../src/envoy/frozen.js';
import {
  compileAll,
  describeViolation,
  unsupportedRules,
  validateMessage,
  validateResource,
  type Violation,
} from '../../src/envoy/validation-rules.js';
import { renderDocument } from '../../src/cli/render.js';
import { parseClientLabel } from '../../src/clients/index.js';
import { loadManifestDir } from '../../src/sources/files.js';
import { MeshModel } from '../../src/model/index.js';
import { translateAll, translateGateway } from '../../src/translate/index.js';

const CLUSTER_URL = TypeUrl.Cluster;
const ROUTE_URL = TypeUrl.RouteConfiguration;

// One field per rule kind (and a few per family), with the options written as Envoy writes them.
const RULES_PROTO = `
syntax = "proto3";
package rulestest;
import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/any.proto";
import "google/protobuf/wrappers.proto";

enum Color { NONE = 0; RED = 1; GREEN = 2; }
message Inner { string name = 1 [(validate.rules).string.min_len = 1]; }
message Unchecked { option (validate.disabled) = true; string name = 1 [(validate.rules).string.min_len = 1]; }
message Rules {
  string s_const = 1 [(validate.rules).string.const = "abc"];
  string s_len = 2 [(validate.rules).string = {min_len: 2, max_len: 3}];
  string s_exact = 3 [(validate.rules).string.len = 2];
  string s_bytes = 4 [(validate.rules).string = {min_bytes: 2, max_bytes: 4}];
  string s_len_bytes = 5 [(validate.rules).string.len_bytes = 2];
  string s_pattern = 6 [(validate.rules).string.pattern = "^[a-z]+$"];
  string s_affix = 7 [(validate.rules).string = {prefix: "pre", suffix: "suf", contains: "mid", not_contains: "bad"}];
  string s_in = 8 [(validate.rules).string = {in: ["a", "b"]}];
  string s_not_in = 9 [(validate.rules).string = {not_in: ["x"]}];
  string header_name = 10 [(validate.rules).string.well_known_regex = HTTP_HEADER_NAME];
  string header_value = 11 [(validate.rules).string = {well_known_regex: HTTP_HEADER_VALUE, strict: false}];
  string strict_value = 12 [(validate.rules).string.well_known_regex = HTTP_HEADER_VALUE];
  string s_ignore = 13 [(validate.rules).string = {min_len: 3, ignore_empty: true}];
  string s_ip = 14 [(validate.rules).string.ip = true];
  string s_ipv4 = 15 [(validate.rules).string.ipv4 = true];
  string s_ipv6 = 16 [(validate.rules).string.ipv6 = true];
  string s_host = 17 [(validate.rules).string.hostname = true];
  string s_addr = 18 [(validate.rules).string.address = true];
  string s_uuid = 19 [(validate.rules).string.uuid = true];
  bytes b = 20 [(validate.rules).bytes = {min_len: 1, max_len: 3}];
  bytes b_exact = 21 [(validate.rules).bytes = {len: 2, prefix: "a", suffix: "b"}];
  bytes b_misc = 22 [(validate.rules).bytes = {contains: "z", not_in: ["zz"]}];
  bytes b_const = 23 [(validate.rules).bytes.const = "k"];
  bytes b_in = 24 [(validate.rules).bytes = {in: ["p", "q"]}];
  bytes b_ip = 25 [(validate.rules).bytes = {ip: true, ignore_empty: true}];
  bytes b_ipv4 = 26 [(validate.rules).bytes = {ipv4: true, ignore_empty: true}];
  bytes b_ipv6 = 27 [(validate.rules).bytes = {ipv6: true, ignore_empty: true}];
  bool flag = 28 [(validate.rules).bool.const = true];
  int32 i32 = 29 [(validate.rules).int32 = {gt: 0, lt: 10}];
  int64 i64 = 30 [(validate.rules).int64 = {gte: -5, lte: 5}];
  uint32 u32 = 31 [(validate.rules).uint32 = {in: [1, 2, 3]}];
  uint64 u64 = 32 [(validate.rules).uint64 = {not_in: [7]}];
  double dbl = 33 [(validate.rules).double = {gt: 0, lte: 1}];
  float flt = 34 [(validate.rules).float = {gte: 1, ignore_empty: true}];
  sint32 konst = 35 [(validate.rules).sint32.const = 4];
  int32 outside = 36 [(validate.rules).int32 = {lt: 0, gt: 10}];
  Color color = 37 [(validate.rules).enum = {defined_only: true, not_in: [2]}];
  Color only_red = 38 [(validate.rules).enum = {in: [1]}];
  Color exactly_red = 39 [(validate.rules).enum.const = 1];
  Inner inner = 40 [(validate.rules).message.required = true];
  Inner skipped = 41 [(validate.rules).message.skip = true];
  repeated string items = 42 [(validate.rules).repeated = {min_items: 1, max_items: 3, unique: true, items: {string: {min_len: 1}}}];
  repeated Inner inners = 43 [(validate.rules).repeated.ignore_empty = true];
  map<string, int64> counts = 44 [(validate.rules).map = {min_pairs: 1, max_pairs: 2, keys: {string: {min_len: 2}}, values: {int64: {gt: 0}}}];
  map<string, Inner> named = 45 [(validate.rules).map.ignore_empty = true];
  google.protobuf.Duration timeout = 46 [(validate.rules).duration = {required: true, gt: {}, lte: {seconds: 10}}];
  google.protobuf.Duration grace = 47 [(validate.rules).duration = {gte: {nanos: 1000000}, lt: {seconds: 5}}];
  google.protobuf.Duration fixed = 48 [(validate.rules).duration.const = {seconds: 3}];
  google.protobuf.Timestamp at = 49 [(validate.rules).timestamp = {required: true, gt: {seconds: 1000}, lt: {seconds: 2000}}];
  google.protobuf.Timestamp born = 50 [(validate.rules).timestamp.const = {seconds: 5}];
  google.protobuf.Timestamp past = 51 [(validate.rules).timestamp.lt_now = true];
  google.protobuf.Timestamp future = 52 [(validate.rules).timestamp.gt_now = true];
  google.protobuf.Timestamp near = 53 [(validate.rules).timestamp.within = {seconds: 3600}];
  google.protobuf.Any any = 54 [(validate.rules).any = {required: true, in: ["type.googleapis.com/envoy.config.cluster.v3.Cluster"]}];
  google.protobuf.Any other = 55 [(validate.rules).any.not_in = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"];
  google.protobuf.UInt32Value wrapped = 56 [(validate.rules).uint32.lte = 5];
  oneof choice {
    option (validate.required) = true;
    string a = 57;
    int32 b_num = 58 [(validate.rules).int32.gt = 0];
  }
  optional string maybe = 59 [(validate.rules).string.min_len = 2];
  Unchecked unchecked = 60;
}
`;

function rulesType(): protobuf.Type {
  const root = new protobuf.Root();
  for (const file of ['duration', 'timestamp', 'any', 'wrappers'])
    root.addJSON(protobuf.common.get(`google/protobuf/${file}.proto`)!.nested!);
  protobuf.parse(RULES_PROTO, root, { keepCase: false });
  root.resolveAll();
  return root.lookupType('rulestest.Rules');
}

const NOW_SECONDS = Math.floor(Date.now() / 1000);
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));

/** A value that passes every rule of rulestest.Rules. */
function validRules(): Record<string, unknown> {
  return {
    sConst: 'abc',
    sLen: 'ab',
    sExact: 'ab',
    sBytes: 'éé',
    sLenBytes: 'é',
    sPattern: 'abc',
    sAffix: 'premidsuf',
    sIn: 'a',
    sNotIn: 'y',
    headerName: 'x-request-id',
    headerValue: 'a\u0001b',
    strictValue: 'a\tb',
    sIgnore: '',
    sIp: '::1',
    sIpv4: '10.0.0.1',
    sIpv6: 'fe80::1',
    sHost: 'cart.shop.svc',
    sAddr: '10.0.0.1',
    sUuid: '123e4567-e89b-12d3-a456-426614174000',
    b: bytes('a'),
    bExact: bytes('ab'),
    bMisc: 'eg==' /* "z", base64 */,
    bConst: bytes('k'),
    bIn: bytes('q'),
    flag: true,
    i32: 5,
    i64: '-5',
    u32: 2,
    u64: 8,
    dbl: 1,
    konst: 4,
    outside: 11,
    color: 'RED',
    onlyRed: 1,
    exactlyRed: 'RED',
    inner: { name: 'n' },
    skipped: { name: '' },
    items: ['a', 'b'],
    counts: { ab: 1 },
    timeout: { seconds: 10 },
    grace: { nanos: 1_000_000 },
    fixed: { seconds: '3' },
    at: { seconds: 1999, nanos: 999_999_999 },
    born: { seconds: 5 },
    past: { seconds: NOW_SECONDS - 60 },
    future: { seconds: NOW_SECONDS + 3600 },
    near: { seconds: NOW_SECONDS },
    any: { '@type': CLUSTER_URL, name: 'c' },
    wrapped: { value: 5 },
    a: 'x',
  };
}

describe('validation rules: every supported rule kind is caught', () => {
  const type = rulesType();
  const check = (change: Record<string, unknown>): Violation[] => {
    const value = { ...validRules(), ...change };
    for (const [key, v] of Object.entries(change)) if (v === undefined) delete value[key];
    return validateMessage(type, value);
  };

  it('counts code points, not UTF-16 units, whichever way the length could go', () => {
    // s_len: 2 to 3 characters. Two or three emoji are four or six UTF-16 units, yet within the bounds.
    expect(check({ sLen: '😀😀' })).toEqual([]);
    expect(check({ sLen: '😀é😀' })).toEqual([]);
    expect(check({ sLen: 'é' }).map((v) => v.rule)).toEqual(['string.min_len']);
  });

  it('passes a value that keeps every rule (so each case below fails for its own rule only)', () => {
    expect(check({})).toEqual([]);
  });

  // [change to the valid value, field path, rule]
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ sConst: 'abd' }, 's_const', 'string.const'],
    [{ sLen: 'a' }, 's_len', 'string.min_len'],
    // Lengths count code points: one emoji is one character, though two UTF-16 units.
    [{ sLen: '😀' }, 's_len', 'string.min_len'],
    [{ sLen: 'abcd' }, 's_len', 'string.max_len'],
    [{ sLen: '😀😀😀😀' }, 's_len', 'string.max_len'],
    [{ sExact: 'abc' }, 's_exact', 'string.len'],
    [{ sBytes: 'a' }, 's_bytes', 'string.min_bytes'],
    [{ sBytes: 'ééé' }, 's_bytes', 'string.max_bytes'],
    [{ sLenBytes: 'abc' }, 's_len_bytes', 'string.len_bytes'],
    [{ sPattern: 'ABC' }, 's_pattern', 'string.pattern'],
    [{ sAffix: 'xmidsuf' }, 's_affix', 'string.prefix'],
    [{ sAffix: 'premidx' }, 's_affix', 'string.suffix'],
    [{ sAffix: 'presuf' }, 's_affix', 'string.contains'],
    [{ sAffix: 'premidbadsuf' }, 's_affix', 'string.not_contains'],
    [{ sIn: 'c' }, 's_in', 'string.in'],
    [{ sNotIn: 'x' }, 's_not_in', 'string.not_in'],
    [{ headerName: 'x id' }, 'header_name', 'string.well_known_regex'],
    [{ headerValue: 'a\nb' }, 'header_value', 'string.well_known_regex'],
    [{ strictValue: 'a\u0001b' }, 'strict_value', 'string.well_known_regex'],
    [{ sIgnore: 'ab' }, 's_ignore', 'string.min_len'],
    [{ sIp: 'localhost' }, 's_ip', 'string.ip'],
    [{ sIpv4: '::1' }, 's_ipv4', 'string.ipv4'],
    [{ sIpv6: '10.0.0.1' }, 's_ipv6', 'string.ipv6'],
    [{ sHost: 'bad_host.example' }, 's_host', 'string.hostname'],
    [{ sAddr: 'not an address' }, 's_addr', 'string.address'],
    [{ sUuid: '123e4567' }, 's_uuid', 'string.uuid'],
    [{ b: undefined }, 'b', 'bytes.min_len'],
    [{ b: bytes('abcd') }, 'b', 'bytes.max_len'],
    [{ bExact: bytes('abb') }, 'b_exact', 'bytes.len'],
    [{ bExact: bytes('bb') }, 'b_exact', 'bytes.prefix'],
    [{ bExact: bytes('aa') }, 'b_exact', 'bytes.suffix'],
    [{ bMisc: bytes('y') }, 'b_misc', 'bytes.contains'],
    [{ bMisc: bytes('zz') }, 'b_misc', 'bytes.not_in'],
    [{ bConst: bytes('j') }, 'b_const', 'bytes.const'],
    [{ bIn: bytes('r') }, 'b_in', 'bytes.in'],
    [{ bIp: bytes('abc') }, 'b_ip', 'bytes.ip'],
    [{ bIpv4: new Uint8Array(16) }, 'b_ipv4', 'bytes.ipv4'],
    [{ bIpv6: new Uint8Array(4) }, 'b_ipv6', 'bytes.ipv6'],
    // Unset proto3 scalars have their default value, and it must pass too.
    [{ flag: undefined }, 'flag', 'bool.const'],
    [{ flag: false }, 'flag', 'bool.const'],
    [{ i32: 0 }, 'i32', 'int32.gt'],
    [{ i32: 10 }, 'i32', 'int32.lt'],
    [{ i64: '-6' }, 'i64', 'int64.gte'],
    [{ i64: 6 }, 'i64', 'int64.lte'],
    [{ u32: 4 }, 'u32', 'uint32.in'],
    [{ u64: '7' }, 'u64', 'uint64.not_in'],
    [{ dbl: undefined }, 'dbl', 'double.gt'],
    [{ dbl: 1.5 }, 'dbl', 'double.lte'],
    [{ flt: 0.5 }, 'flt', 'float.gte'],
    [{ konst: 3 }, 'konst', 'sint32.const'],
    // gt above lt: the valid values are outside the range.
    [{ outside: 5 }, 'outside', 'int32.gt/lt'],
    [{ color: 7 }, 'color', 'enum.defined_only'],
    [{ color: 'PURPLE' }, 'color', 'enum.defined_only'],
    [{ color: 'GREEN' }, 'color', 'enum.not_in'],
    [{ onlyRed: 'GREEN' }, 'only_red', 'enum.in'],
    [{ exactlyRed: 2 }, 'exactly_red', 'enum.const'],
    [{ inner: undefined }, 'inner', 'message.required'],
    [{ inner: { name: '' } }, 'inner.name', 'string.min_len'],
    [{ items: [] }, 'items', 'repeated.min_items'],
    [{ items: undefined }, 'items', 'repeated.min_items'],
    [{ items: ['a', 'b', 'c', 'd'] }, 'items', 'repeated.max_items'],
    [{ items: ['a', 'a'] }, 'items', 'repeated.unique'],
    [{ items: ['a', ''] }, 'items[1]', 'string.min_len'],
    [{ inners: [{ name: 'a' }, { name: '' }] }, 'inners[1].name', 'string.min_len'],
    [{ counts: {} }, 'counts', 'map.min_pairs'],
    [{ counts: { ab: 1, cd: 2, ef: 3 } }, 'counts', 'map.max_pairs'],
    [{ counts: { a: 1 } }, 'counts[a]', 'string.min_len'],
    [{ counts: { ab: '0' } }, 'counts[ab]', 'int64.gt'],
    [{ named: { x: { name: '' } } }, 'named[x].name', 'string.min_len'],
    [{ timeout: undefined }, 'timeout', 'duration.required'],
    [{ timeout: { seconds: 0 } }, 'timeout', 'duration.gt'],
    [{ timeout: { seconds: 10, nanos: 1 } }, 'timeout', 'duration.lte'],
    [{ grace: { nanos: 999_999 } }, 'grace', 'duration.gte'],
    [{ grace: { seconds: 5 } }, 'grace', 'duration.lt'],
    [{ fixed: { seconds: 4 } }, 'fixed', 'duration.const'],
    [{ at: undefined }, 'at', 'timestamp.required'],
    [{ at: { seconds: 1000 } }, 'at', 'timestamp.gt'],
    [{ at: { seconds: '2000' } }, 'at', 'timestamp.lt'],
    [{ born: { seconds: 6 } }, 'born', 'timestamp.const'],
    [{ past: { seconds: NOW_SECONDS + 3600 } }, 'past', 'timestamp.lt_now'],
    [{ future: { seconds: NOW_SECONDS - 3600 } }, 'future', 'timestamp.gt_now'],
    [{ near: { seconds: NOW_SECONDS - 7200 } }, 'near', 'timestamp.within'],
    [{ any: undefined }, 'any', 'any.required'],
    [{ any: { '@type': ROUTE_URL, name: 'r' } }, 'any', 'any.in'],
    [{ other: { '@type': ROUTE_URL, name: 'r' } }, 'other', 'any.not_in'],
    // Inside a typed Any, the inner message's own rules apply.
    [{ any: { '@type': CLUSTER_URL, name: '' } }, 'any<Cluster>.name', 'string.min_len'],
    [{ wrapped: { value: 6 } }, 'wrapped', 'uint32.lte'],
    [{ a: undefined }, 'choice', 'oneof.required'],
    [{ a: undefined, bNum: 0 }, 'b_num', 'int32.gt'],
    [{ maybe: 'x' }, 'maybe', 'string.min_len'],
  ];

  it.each(cases)('%j breaks %s: %s', (change, field, rule) => {
    const violations = check(change);
    expect(violations).toEqual([expect.objectContaining({ path: field, rule })]);
    expect(violations[0].message).toMatch(/\S/);
  });

  it('leaves unset what may be unset: oneof members, proto3 optional, skipped and disabled messages, ignore_empty', () => {
    expect(
      check({ maybe: undefined, skipped: { name: '' }, unchecked: { name: '' }, sIgnore: '', flt: 0, inners: [], bIp: new Uint8Array(0) }),
    ).toEqual([]);
  });
});

describe("validation rules: read from Envoy's own descriptors", () => {
  /** A Cluster with its load assignment inline: shop/cart/80 with two endpoints. */
  function cartCluster(): Record<string, any> {
    const endpoint = (address: string, port: number) => ({ endpoint: { address: { socketAddress: { address, portValue: port } } } });
    return {
      name: 'shop/cart/80',
      type: 'STATIC',
      connectTimeout: { seconds: 1 },
      loadAssignment: {
        clusterName: 'shop/cart/80',
        endpoints: [{ lbEndpoints: [endpoint('10.0.0.1', 8080), endpoint('10.0.0.2', 8080)] }],
      },
    };
  }

  it('checks every message type the root holds with no rule kind left unsupported', () => {
    compileAll(envoyRoot());
    expect(unsupportedRules()).toEqual([]);
  });

  it('names the resource, the field path and the rule', () => {
    const cluster = cartCluster();
    cluster.loadAssignment.endpoints[0].lbEndpoints[1].endpoint.address.socketAddress.portValue = 70000;
    const [violation, ...rest] = validateResource(CLUSTER_URL, cluster);
    expect(rest).toEqual([]);
    expect(describeViolation(CLUSTER_URL, 'shop/cart/80', violation)).toBe(
      'Cluster "shop/cart/80": load_assignment.endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value: must be <= 65535 (uint32.lte)',
    );
  });

  it('checks a frozen value shared by many resources as often as it is offered, refusing it every time it breaks a rule', () => {
    // Found clean once, a deeply frozen value is not walked again; a refusal is never remembered that way.
    const broken = deepFreeze({ address: { socketAddress: { address: '10.0.0.1', portValue: 70000 } } });
    const assignment = (endpoint: object) => ({ clusterName: 'c', endpoints: [{ lbEndpoints: [{ endpoint }] }] });
    for (let i = 0; i < 2; i++) {
      expect(validateResource(TypeUrl.ClusterLoadAssignment, assignment(broken)).map((v) => v.rule)).toEqual(['uint32.lte']);
    }
    const clean = deepFreeze({ address: { socketAddress: { address: '10.0.0.1', portValue: 8080 } } });
    for (let i = 0; i < 2; i++) expect(validateResource(TypeUrl.ClusterLoadAssignment, assignment(clean))).toEqual([]);
    // Frozen on the outside only: what is inside may still change, and is checked again.
    const socketAddress: { address: string; portValue: number } = { address: '10.0.0.1', portValue: 8080 };
    const shallow = Object.freeze({ address: Object.freeze({ socketAddress }) });
    expect(validateResource(TypeUrl.ClusterLoadAssignment, assignment(shallow))).toEqual([]);
    socketAddress.portValue = 70000;
    expect(validateResource(TypeUrl.ClusterLoadAssignment, assignment(shallow)).map((v) => v.rule)).toEqual(['uint32.lte']);
  });

  it('catches an endpoint address without a port (a required oneof), in objects and in bytes alike', () => {
    const cluster = cartCluster();
    delete cluster.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue;
    const expected = [
      {
        path: 'load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_specifier',
        rule: 'oneof.required',
        message: expect.stringContaining('port_value'),
      },
    ];
    expect(validateResource(CLUSTER_URL, cluster)).toEqual(expected);
    expect(validateResource(CLUSTER_URL, encodeMessage(CLUSTER_URL, cluster))).toEqual(expected);
  });

  it('catches a line break in a health-check path and a missing interval', () => {
    const cluster = cartCluster();
    cluster.healthChecks = [
      {
        timeout: { seconds: 1 },
        unhealthyThreshold: { value: 2 },
        healthyThreshold: { value: 2 },
        httpHealthCheck: { path: '/healthz\r\nX: 1' },
      },
    ];
    expect(validateResource(CLUSTER_URL, cluster).map((v) => `${v.path} ${v.rule}`)).toEqual([
      'health_checks[0].http_health_check.path string.well_known_regex',
      'health_checks[0].interval duration.required',
    ]);
  });

  it('recurses into typed Any: a route configuration inside the HTTP connection manager', () => {
    const listener = {
      name: 'outbound',
      address: { socketAddress: { address: '0.0.0.0', portValue: 15001 } },
      filterChains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typedConfig: {
                '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                statPrefix: 'outbound',
                routeConfig: { name: 'outbound', virtualHosts: [{ name: 'cart', domains: [], routes: [] }] },
                httpFilters: [
                  {
                    name: 'envoy.filters.http.router',
                    typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                  },
                ],
              },
            },
          ],
        },
      ],
    };
    expect(validateResource(TypeUrl.Listener, listener)).toEqual([
      expect.objectContaining({
        path: 'filter_chains[0].filters[0].typed_config<HttpConnectionManager>.route_config.virtual_hosts[0].domains',
        rule: 'repeated.min_items',
      }),
    ]);
  });
});

describe('validation rules: nothing Switchyard renders breaks one', () => {
  const EXAMPLES = path.resolve('examples');
  const GOLDEN = path.resolve('test', 'golden');

  function describeAll(resources: XdsResource[]): string[] {
    return resources.flatMap((r) => validateResource(r.typeUrl, r.value).map((v) => describeViolation(r.typeUrl, r.name, v)));
  }

  /** Every served resource in a rendered document (proto3 JSON with `@type`), anywhere in it. */
  function renderedResources(document: unknown): XdsResource[] {
    const found: XdsResource[] = [];
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (node === null || typeof node !== 'object') return;
      const record = node as Record<string, unknown>;
      const typeUrl = record['@type'];
      if (typeof typeUrl === 'string' && (SERVED_TYPE_URLS as readonly string[]).includes(typeUrl)) {
        const { '@type': _type, ...json } = record;
        const value = fromProto3Json(typeUrl, json);
        found.push({ typeUrl: typeUrl as XdsResource['typeUrl'], name: String(record.name ?? record.cluster_name ?? ''), value });
        return;
      }
      Object.values(record).forEach(visit);
    };
    visit(document);
    return found;
  }

  function goldenFiles(dir: string): string[] {
    return readdirSync(dir).flatMap((entry) => {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) return goldenFiles(full);
      return entry.endsWith('.json') ? [full] : [];
    });
  }

  it('the golden files', () => {
    const files = goldenFiles(GOLDEN);
    expect(files.length).toBeGreaterThanOrEqual(3);
    let count = 0;
    for (const file of files) {
      const resources = renderedResources(JSON.parse(readFileSync(file, 'utf8')));
      count += resources.length;
      expect({ file: path.relative(GOLDEN, file), violations: describeAll(resources) }).toEqual({
        file: path.relative(GOLDEN, file),
        violations: [],
      });
    }
    expect(count).toBeGreaterThan(20);
  });

  it.each(['sidecar', 'proxyless', 'gateway'] as const)('the examples rendered for the %s role (render and translation)', async (role) => {
    const document = await renderDocument(EXAMPLES, { role, gateway: role === 'gateway' ? 'edge' : undefined });
    const rendered = renderedResources(document);
    expect(rendered.length).toBeGreaterThan(0);
    expect(describeAll(rendered)).toEqual([]);

    const { events } = await loadManifestDir(EXAMPLES);
    const model = new MeshModel();
    model.apply(events);
    const translated = role === 'gateway' ? translateGateway(model, 'edge') : translateAll(model, role);
    const resources = [translated.clusters, translated.endpoints, translated.routes, translated.listeners, translated.secrets].flat();
    expect(resources.length).toBeGreaterThan(0);
    expect(describeAll(resources)).toEqual([]);
  });
  // Each client profile is served its own shape (legacy header matchers, lb_policy, ...): those too.
  it.each(['grpc-core/1.51.1', 'grpc-go/1.40.0', 'grpc-java/1.50.0', 'grpc-node/1.8.0', 'envoy/1.20.0', 'unknown'])(
    'the examples rendered for client %s (sidecar and proxyless)',
    async (label) => {
      for (const role of ['sidecar', 'proxyless'] as const) {
        const document = await renderDocument(EXAMPLES, { role, client: parseClientLabel(label) });
        const rendered = renderedResources(document);
        expect(rendered.length).toBeGreaterThan(0);
        expect({ role, violations: describeAll(rendered) }).toEqual({ role, violations: [] });
      }
    },
  );
});
