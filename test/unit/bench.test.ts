// Smoke tests of the benchmark harness's parts: the /proc readers, the synthetic mesh, the
// wire-level xDS reading of the simulated Envoys (checked against Envoy's own protos), and
// simulated Envoys syncing with and following the floor server over real gRPC on loopback.
import { encodeMessage, messageType, TypeUrl } from '../../src/envoy/protos.js';
import { FloorServer, snapshotToFloorResources } from '../../bench/floor-server.js';
import { AdsClient, SharedState } from '../../bench/loadgen/client.js';
import { isDeltaClient } from '../../bench/loadgen/index.js';
import { hashBytes } from '../../bench/loadgen/wire.js';
import {
  CLA_TYPE,
  edsNameOfCluster,
  encodeDeltaRequest,
  encodeSotwResourceNames,
  parseDeltaResponse,
  parseSotwResponse,
  routeNamesOfListener,
} from '../../bench/loadgen/xds-messages.js';
import { Mesh } from '../../bench/mesh.js';
import { ResponseMemo, scanResponse } from '../../bench/loadgen/responses.js';
import { lenField } from '../../bench/loadgen/wire.js';
import { encodeAny, encodeSotwResponse } from '../../bench/loadgen/xds-messages.js';
import { clockTicksFromAuxv, cpuSeconds, parseStatTicks, parseVmRss, rssBytes } from '../../bench/proc.js';
import { buildSnapshot, clusterFor, encodeClusterLoadAssignment } from '../../bench/resources.js';
import { parseFlags } from '../../bench/flags.js';
import { writeMeshFolder } from '../../bench/serve.js';
import { loadManifestDir } from '../../src/sources/files.js';
import { validateObject } from '../../src/sources/manifests.js';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { percentile } from '../../bench/report.js';
import type { EndpointSliceObject } from '../../src/sources/types.js';

const whole = (bytes: Uint8Array) => ({ valueStart: 0, valueEnd: bytes.length });

describe('bench /proc readers', () => {
  it('reads utime and stime after a command name with spaces and parentheses', () => {
    const stat = '4242 (node (bench) x) S 1 4242 4242 0 -1 4194304 1000 0 0 0 250 75 0 0 20 0 11 0 100 1000000 5000';
    expect(parseStatTicks(stat)).toEqual({ utime: 250, stime: 75 });
  });

  it('reads VmRSS in bytes and names the missing line', () => {
    expect(parseVmRss('Name:\tnode\nVmRSS:\t  123456 kB\nThreads:\t11\n')).toBe(123456 * 1024);
    expect(() => parseVmRss('Name:\tzombie\n')).toThrow(/VmRSS/);
  });

  it('finds the clock tick in an auxiliary vector, and nothing in one without it', () => {
    const auxv = (pairs: [number, number][]) => {
      const buf = Buffer.alloc(16 * pairs.length);
      pairs.forEach(([key, value], i) => {
        buf.writeBigUInt64LE(BigInt(key), 16 * i);
        buf.writeBigUInt64LE(BigInt(value), 16 * i + 8);
      });
      return buf;
    };
    expect(
      clockTicksFromAuxv(
        auxv([
          [6, 4096],
          [17, 250],
          [0, 0],
        ]),
      ),
    ).toBe(250);
    expect(
      clockTicksFromAuxv(
        auxv([
          [6, 4096],
          [0, 0],
          [17, 250],
        ]),
      ),
    ).toBeUndefined();
    expect(clockTicksFromAuxv(readFileSync('/proc/self/auxv'))).toBeGreaterThan(0);
  });

  it('measures this very process', () => {
    expect(cpuSeconds(process.pid)).toBeGreaterThan(0);
    expect(rssBytes(process.pid)).toBeGreaterThan(10 * 1024 * 1024);
  });
});

describe('bench synthetic mesh', () => {
  it('is the same mesh for the same seed, and another for another seed', () => {
    const a = JSON.stringify(new Mesh({ services: 30, endpointsPerService: 4, seed: 3 }).initialEvents());
    const b = JSON.stringify(new Mesh({ services: 30, endpointsPerService: 4, seed: 3 }).initialEvents());
    const c = JSON.stringify(new Mesh({ services: 30, endpointsPerService: 4, seed: 4 }).initialEvents());
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('has S services with E endpoints in two zones, and some TrafficPolicies', () => {
    const mesh = new Mesh({ services: 40, endpointsPerService: 6, seed: 1, policyShare: 0.5 });
    const events = mesh.initialEvents();
    const kinds = events.map((e) => e.ref.kind);
    expect(kinds.filter((k) => k === 'Service')).toHaveLength(40);
    expect(kinds.filter((k) => k === 'EndpointSlice')).toHaveLength(40);
    expect(kinds.filter((k) => k === 'TrafficPolicy').length).toBeGreaterThan(5);
    const slice = events.find((e) => e.ref.kind === 'EndpointSlice')!;
    const object = (slice as { object: EndpointSliceObject }).object;
    expect(object.endpoints).toHaveLength(6);
    expect(new Set(object.endpoints!.map((e) => e.zone))).toEqual(new Set(['zone-a', 'zone-b']));
    expect(object.metadata.labels!['kubernetes.io/service-name']).toBe(object.metadata.name.replace(/-slice$/, ''));
    expect(mesh.clusterNames()[0]).toBe('ns-0/svc-0/8080');
  });

  it('is a mesh the server accepts: every object passes the checks a source applies', () => {
    // Two services per namespace: the first of each namespace splits with the next one; the
    // last service alone in its namespace has no sibling to split with.
    const mesh = new Mesh({ services: 41, endpointsPerService: 2, seed: 1, policyShare: 1, servicesPerNamespace: 2 });
    const events = mesh.initialEvents();
    const splits = mesh.services.filter((s) => s.policy?.spec.split).map((s) => Number(s.name.slice('svc-'.length)));
    expect(splits.filter((i) => i % 2 === 0).length).toBeGreaterThan(0);
    for (const event of events) if (event.type === 'upsert') expect(validateObject(event.object)).toEqual([]);
  });

  it('changes exactly one endpoint of one EndpointSlice per change', () => {
    const mesh = new Mesh({ services: 10, endpointsPerService: 5, seed: 9 });
    for (let i = 0; i < 4; i++) {
      const before = JSON.stringify(mesh.services.map((s) => s.slice.endpoints));
      const change = mesh.endpointChange(3);
      const after = mesh.services.map((s) => s.slice.endpoints);
      const beforeParsed = JSON.parse(before) as typeof after;
      const changedServices = after.map((eps, s) => JSON.stringify(eps) !== JSON.stringify(beforeParsed[s])).filter(Boolean);
      expect(changedServices).toHaveLength(1);
      const changedEndpoints = after[3]!.filter((ep, e) => JSON.stringify(ep) !== JSON.stringify(beforeParsed[3]![e]));
      expect(changedEndpoints).toHaveLength(1);
      expect(change.event.type).toBe('upsert');
      expect(change.event.ref).toEqual({ kind: 'EndpointSlice', namespace: 'ns-0', name: 'svc-3-slice' });
    }
    expect(() => mesh.endpointChange(99)).toThrow(/no service 99/);
  });

  it('changes what the proxies get on every change (a not-ready endpoint is not sent)', () => {
    // One service, 2 endpoints, many changes: address changes meet not-ready endpoints often.
    const mesh = new Mesh({ services: 1, endpointsPerService: 2, seed: 3 });
    const served = (): string =>
      JSON.stringify(mesh.services[0]!.slice.endpoints!.filter((ep) => ep.conditions?.ready ?? true).map((ep) => ep.addresses));
    for (let i = 0; i < 50; i++) {
      const before = served();
      mesh.endpointChange(0);
      expect(served()).not.toBe(before);
    }
  });
});

describe('bench wire-level xDS reading', () => {
  const mesh = new Mesh({ services: 3, endpointsPerService: 2, seed: 2 });
  const snapshot = buildSnapshot(mesh);

  it('finds the RDS route name inside a Listener encoded with Envoy protos', () => {
    const listener = snapshot.get(TypeUrl.Listener)!.get('outbound-http')!.bytes;
    expect(routeNamesOfListener(Buffer.from(listener), whole(listener))).toEqual(['outbound']);
    const apiListener = encodeMessage(TypeUrl.Listener, {
      name: 'reviews:9080',
      apiListener: {
        apiListener: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          rds: { configSource: { ads: {} }, routeConfigName: 'reviews-route' },
        },
      },
    });
    expect(routeNamesOfListener(Buffer.from(apiListener), whole(apiListener))).toEqual(['reviews-route']);
  });

  it('subscribes EDS by cluster name or service_name, and only for EDS clusters', () => {
    const eds = encodeMessage(TypeUrl.Cluster, clusterFor(mesh.services[0]!));
    expect(edsNameOfCluster(Buffer.from(eds), whole(eds))).toBe('ns-0/svc-0/8080');
    const named = encodeMessage(TypeUrl.Cluster, { name: 'a', type: 'EDS', edsClusterConfig: { serviceName: 'a-endpoints' } });
    expect(edsNameOfCluster(Buffer.from(named), whole(named))).toBe('a-endpoints');
    const strict = encodeMessage(TypeUrl.Cluster, { name: 'dns', type: 'STRICT_DNS' });
    expect(edsNameOfCluster(Buffer.from(strict), whole(strict))).toBeUndefined();
  });

  it('reads delta and state-of-the-world responses encoded by protobufjs', () => {
    const cla = snapshot.get(CLA_TYPE)!.get('ns-0/svc-1/8080')!;
    const deltaType = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const delta = Buffer.from(
      deltaType
        .encode(
          deltaType.fromObject({
            systemVersionInfo: 'v7',
            typeUrl: CLA_TYPE,
            nonce: 'n1',
            resources: [{ name: 'ns-0/svc-1/8080', version: 'abc', resource: { type_url: CLA_TYPE, value: cla.bytes } }],
            removedResources: ['gone'],
          }),
        )
        .finish(),
    );
    const parsed = parseDeltaResponse(delta);
    expect(parsed).toMatchObject({ systemVersionInfo: 'v7', typeUrl: CLA_TYPE, nonce: 'n1', removed: ['gone'] });
    expect(parsed.resources[0]).toMatchObject({ name: 'ns-0/svc-1/8080', version: 'abc' });
    const r = parsed.resources[0]!;
    expect(hashBytes(delta, r.valueStart, r.valueEnd)).toBe(hashBytes(cla.bytes));

    const sotwType = messageType('envoy.service.discovery.v3.DiscoveryResponse');
    const sotw = Buffer.from(
      sotwType
        .encode(
          sotwType.fromObject({ versionInfo: '3', typeUrl: CLA_TYPE, nonce: 'n2', resources: [{ type_url: CLA_TYPE, value: cla.bytes }] }),
        )
        .finish(),
    );
    const parsedSotw = parseSotwResponse(sotw);
    expect(parsedSotw).toMatchObject({ versionInfo: '3', nonce: 'n2' });
    expect(parsedSotw.resources).toHaveLength(1);
  });

  it('finds every resource even when other fields sit between them, and parses equal bytes once', () => {
    const anys = mesh.clusterNames().map((name) => encodeAny(CLA_TYPE, snapshot.get(CLA_TYPE)!.get(name)!.bytes));
    // resources, version, resources, type URL, resources, nonce: legal protobuf, unusual order
    const interleaved = Buffer.concat([
      lenField(2, anys[0]!),
      lenField(1, 'v1'),
      lenField(2, anys[1]!),
      lenField(4, CLA_TYPE),
      lenField(2, anys[2]!),
      lenField(5, 'n'),
    ]);
    const head = scanResponse(interleaved, false);
    expect(head).toMatchObject({ typeUrl: CLA_TYPE, version: 'v1', nonce: 'n' });
    const memo = new ResponseMemo();
    const parsed = memo.parse(head.region, CLA_TYPE, false);
    expect(parsed.names).toEqual(mesh.clusterNames());
    // The same resources in the usual order, in another buffer: the memo's answer, not a new parse.
    const usual = encodeSotwResponse('v2', anys, CLA_TYPE, 'other-nonce');
    expect(memo.parse(scanResponse(usual, false).region, CLA_TYPE, false)).toBe(parsed);
    const changed = encodeSotwResponse('v2', anys.slice(0, 2), CLA_TYPE, 'n');
    expect(memo.parse(scanResponse(changed, false).region, CLA_TYPE, false)).not.toBe(parsed);
    expect(() => scanResponse(Buffer.from([0x12, 0x50, 0x01]), false)).toThrow(/overruns/);
  });

  it('writes requests Envoy protos decode', () => {
    const bytes = encodeDeltaRequest({ typeUrl: CLA_TYPE, subscribe: ['a', 'b'], unsubscribe: ['c'], nonce: '5' });
    const decoded = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest').decode(bytes).toJSON();
    expect(decoded).toEqual({ typeUrl: CLA_TYPE, resourceNamesSubscribe: ['a', 'b'], resourceNamesUnsubscribe: ['c'], responseNonce: '5' });
    // A first subscription's names encoded once, as for a state-of-the-world request, decode the same.
    const shared = encodeDeltaRequest({ typeUrl: CLA_TYPE, encodedSubscribe: encodeSotwResourceNames(['a', 'b']) });
    expect(messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest').decode(shared).toJSON()).toEqual({
      typeUrl: CLA_TYPE,
      resourceNamesSubscribe: ['a', 'b'],
    });
  });
});

describe('bench simulated Envoys against the floor server (gRPC on loopback)', () => {
  it('sync every resource, then see one changed ClusterLoadAssignment arrive (delta and SotW)', async () => {
    const mesh = new Mesh({ services: 6, endpointsPerService: 3, seed: 5 });
    const floor = new FloorServer();
    floor.load(snapshotToFloorResources(buildSnapshot(mesh)));
    const port = await floor.start();
    const shared = new SharedState();
    const clients: AdsClient[] = [];
    try {
      let synced!: () => void;
      const allSynced = new Promise<void>((resolve) => (synced = resolve));
      let seen!: () => void;
      const allSeen = new Promise<void>((resolve) => (seen = resolve));
      let syncedCount = 0;
      let seenCount = 0;
      const errors: string[] = [];
      for (let i = 0; i < 4; i++) {
        clients.push(
          new AdsClient({
            index: i,
            delta: isDeltaClient(i, 0.5),
            target: `127.0.0.1:${port}`,
            shared,
            hashAll: true,
            record: i === 0,
            onSynced: () => ++syncedCount === 4 && synced(),
            onWatchSeen: () => ++seenCount === 4 && seen(),
            onError: (_c, e) => errors.push(e.message),
          }),
        );
      }
      clients.forEach((c) => c.start());
      await allSynced;
      expect(errors).toEqual([]);
      expect(clients.filter((c) => c.delta)).toHaveLength(2);
      for (const client of clients) {
        expect([...client.resourceHashes(CLA_TYPE).keys()].sort()).toEqual(mesh.clusterNames().sort());
        expect(client.resourceHashes(TypeUrl.RouteConfiguration).has('outbound')).toBe(true);
      }
      expect([...clients[0]!.recorded.get(TypeUrl.Cluster)!.keys()].sort()).toEqual(mesh.clusterNames().sort());

      const change = mesh.endpointChange(2);
      const name = change.service.clusterName;
      const oldHash = clients[0]!.recorded.get(CLA_TYPE)!.get(name)!.hash;
      const encoded = encodeClusterLoadAssignment(change.service);
      for (const client of clients) client.beginWatch({ typeUrl: CLA_TYPE, name, oldHash });
      expect(floor.set(CLA_TYPE, name, encoded.bytes, encoded.version)).toBe(4);
      await allSeen;
      for (const client of clients) {
        expect(client.watchSeenAt).toBeGreaterThan(0);
        expect(client.resourceHashes(CLA_TYPE).get(name)).toBe(hashBytes(encoded.bytes));
      }
      // Both flavours receive the one changed resource (SotW EDS need not repeat the others),
      // with the envelope around it: type URL, version, nonce.
      for (const client of clients) {
        const received = client.totalBytes - client.bytesAtWatch;
        expect(received).toBeGreaterThan(encoded.bytes.length);
        expect(received).toBeLessThan(encoded.bytes.length + 300);
      }
      expect(floor.nacks).toBe(0);
    } finally {
      clients.forEach((c) => c.stop());
      await floor.stop();
    }
  });
});

describe('bench runner flags and figures', () => {
  it('takes the issue sizes by default and flags over them', () => {
    expect(parseFlags(['sotw-churn'])).toMatchObject({ services: 1000, endpoints: 10, clients: 2000, deltaShare: 0, changes: 200 });
    expect(parseFlags(['translate'])).toMatchObject({ services: 10_000, endpoints: 10 });
    expect(parseFlags(['initial-sync', '--clients', '20', '--services=20', '--target', 'localhost:18000'])).toMatchObject({
      clients: 20,
      services: 20,
      target: 'localhost:18000',
    });
  });

  it('runs `switchyard serve` on a folder or the test API server when asked, and capacity over a list of client counts', () => {
    expect(parseFlags(['endpoint-churn'])).toMatchObject({ source: 'memory' });
    expect(parseFlags(['endpoint-churn', '--source', 'kube'])).toMatchObject({ source: 'kube' });
    expect(parseFlags(['rest'])).toMatchObject({ source: 'folder', clients: 2000, deltaShare: 1, durationS: 120 });
    expect(parseFlags(['capacity', '--clients-list', '10,20'])).toMatchObject({ source: 'folder', clientsList: [10, 20] });
    expect(() => parseFlags(['rest', '--source', 'disk'])).toThrow(/--source must be memory, folder or kube/);
    expect(() => parseFlags(['capacity', '--clients-list', '10,x'])).toThrow(/--clients-list takes positive integers/);
  });

  it('writes the mesh as a folder the folder source reads back whole', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-bench-folder-'));
    try {
      const mesh = new Mesh({ services: 30, endpointsPerService: 4, seed: 3 });
      await writeMeshFolder(mesh, dir);
      const { events, problems } = await loadManifestDir(dir);
      expect(problems).toEqual([]);
      expect(events.filter((e) => e.type === 'rejected')).toEqual([]);
      const upserted = (kind: string) => events.filter((e) => e.type === 'upsert' && e.ref.kind === kind).map((e) => e.ref.name);
      expect(upserted('Service').sort()).toEqual(mesh.services.map((s) => s.name).sort());
      expect(upserted('EndpointSlice').sort()).toEqual(mesh.services.map((s) => s.slice.metadata.name).sort());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the bad scenario or flag', () => {
    expect(() => parseFlags(['warp'])).toThrow(/unknown scenario "warp"/);
    expect(() => parseFlags(['burst', '--clinets', '3'])).toThrow(/unknown flag --clinets/);
    expect(() => parseFlags(['burst', '--delta-share', '2'])).toThrow(/between 0 and 1/);
    expect(() => parseFlags(['burst', '--target', 'nohost'])).toThrow(/host:port/);
    expect(() => parseFlags(['endpoint-churn', '--target', 'localhost:18000'])).toThrow(/--apply-url/);
    expect(() => parseFlags(['memory', '--target', 'localhost:18000'])).toThrow(/--pid/);
  });

  it('takes nearest-rank percentiles and skips clients that never saw a change', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, undefined, 2, 3], 100)).toBe(5);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        99,
      ),
    ).toBe(99);
    expect(percentile([undefined], 50)).toBeUndefined();
  });
});
