// Prometheus metrics for one control plane, in a registry of its own (several control planes can
// run in one process, e.g. in tests). Counters and histograms move with the xDS server's and the
// pipeline's events; gauges are read from the server, the cache and the source when scraped.
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ChangeSet, ProxyGroup } from '../cache/types.js';
import type { FlushReport, TranslateFailure } from '../pipeline/pipeline.js';
import { SERVED_TYPE_URLS } from '../envoy/protos.js';
import type {
  AckEvent,
  NackEvent,
  RefusedEvent,
  ResponseSentEvent,
  StreamClosedEvent,
  StreamIdentity,
  WithheldEvent,
} from '../xds/events.js';
import { shortTypeName, type AdminSources } from './types.js';
import type { Problem } from '../analysis/problem.js';
import { degradationSource, degradedProxiesByFeature } from './client-degradations.js';
import { BucketHistogram } from './bucket-histogram.js';

/** Push latencies run from milliseconds (loopback) to tens of seconds (a slow or overloaded proxy). */
const CONVERGENCE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const TRANSLATE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const DEBOUNCE_BUCKETS = [0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The `type` label of each served type URL, made once (a push observes thousands of samples). */
const TYPE_LABELS = new Map<string, { type: string }>(SERVED_TYPE_URLS.map((typeUrl) => [typeUrl, { type: shortTypeName(typeUrl) }]));
const OTHER_TYPE = { type: shortTypeName('') };

function typeLabels(typeUrl: string): { type: string } {
  return TYPE_LABELS.get(typeUrl) ?? OTHER_TYPE;
}

/** Versions remembered per (group, type) for convergence: enough for a burst of flushes in flight. */
const ORIGINS_KEPT = 16;

interface VersionOrigin {
  version: string;
  /** performance.now() of the flush that produced the version. */
  at: number;
  /** Still waiting for its flush report, which carries the flush's end time. */
  awaitingFlush: boolean;
}

interface MetricsOptions extends AdminSources {
  registry: Registry;
  /** 1 while the Kubernetes API server (or the manifest folder) is reachable. */
  sourceConnected?: () => boolean;
  /** The current configuration problems, counted by `switchyard_config_problems`. */
  problems?: () => Problem[];
}

/**
 * `switchyard_push_convergence_seconds` measures, per stream and type, from the end of the
 * flush that produced a version (the pipeline's `at`) to the client's ACK of a response
 * carrying exactly that version. Each flush records the new set version of every (group, type)
 * it changed; an ACK of that version by a stream that was already connected at the flush is one
 * sample, counted once per stream, type and version. Responses to streams that connected later
 * are not pushes and are left out, as are versions the client NACKed (they never converge).
 */
export class AdminMetrics {
  readonly registry: Registry;
  private readonly detachers: Array<() => void> = [];
  /** By group, then type URL: the versions recent flushes produced. */
  private readonly origins = new Map<ProxyGroup, Map<string, VersionOrigin[]>>();
  private readonly streams = new Map<number, { group: ProxyGroup; openedAt: number; measured: Map<string, string> }>();

  constructor(options: MetricsOptions) {
    const { server, cache, pipeline, registry } = options;
    this.registry = registry;
    const register = [registry];
    // The event-loop lag histogram samples with a timer: at prom-client's default 10 ms it wakes an
    // idle process 100 times a second (~0.8% of a core doing nothing); once a second costs ~nothing.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });

    new Gauge({
      name: 'switchyard_xds_streams',
      help: 'Open xDS streams by flavour (sotw, delta) and proxy group',
      labelNames: ['flavour', 'group'],
      registers: register,
      collect() {
        this.reset();
        // Scraped every few seconds: identities, not snapshots (a snapshot sorts every subscribed name).
        for (const stream of server.streamIdentities?.() ?? server.streams()) {
          this.inc({ flavour: stream.flavour, group: stream.group ?? 'unidentified' });
        }
      },
    });
    new Gauge({
      name: 'switchyard_xds_queued_bytes',
      help: 'Response bytes written to xDS streams and not yet taken by their connections, over all streams',
      registers: register,
      collect() {
        this.set(server.sendQueue().bytes);
      },
    });
    new Gauge({
      name: 'switchyard_xds_waiting_requests',
      help: 'xDS requests and held pushes waiting for room under the queued-bytes bound',
      registers: register,
      collect() {
        this.set(server.sendQueue().waiting);
      },
    });
    // A push writes thousands of responses: each adds to plain numbers, and the labelled counters
    // take the sums when scraped.
    const unscraped = new Map([...TYPE_LABELS.values(), OTHER_TYPE].map((labels) => [labels, { responses: 0, resources: 0, bytes: 0 }]));
    const addUnscraped = (): void => {
      for (const [labels, sums] of unscraped) {
        if (sums.responses === 0) continue;
        responses.inc(labels, sums.responses);
        if (sums.resources > 0) resourcesSent.inc(labels, sums.resources);
        bytesSent.inc(labels, sums.bytes);
        sums.responses = sums.resources = sums.bytes = 0;
      }
    };
    const responses = new Counter({
      name: 'switchyard_xds_responses_total',
      help: 'xDS responses sent, by resource type',
      labelNames: ['type'],
      registers: register,
      collect: addUnscraped,
    });
    const resourcesSent = new Counter({
      name: 'switchyard_xds_resources_sent_total',
      help: 'Resources carried by xDS responses, by resource type',
      labelNames: ['type'],
      registers: register,
      collect: addUnscraped,
    });
    const bytesSent = new Counter({
      name: 'switchyard_xds_bytes_sent_total',
      help: 'Bytes of xDS responses written, by resource type',
      labelNames: ['type'],
      registers: register,
      collect: addUnscraped,
    });
    const nacks = new Counter({
      name: 'switchyard_xds_nacks_total',
      help: 'xDS responses rejected by the client (NACK), by resource type and node',
      labelNames: ['type', 'node'],
      registers: register,
    });
    const validationRejections = new Counter({
      name: 'switchyard_validation_rejections_total',
      help: 'Resources refused before entering the cache because they break a rule Envoy enforces (protoc-gen-validate), by resource type',
      labelNames: ['type'],
      registers: register,
    });
    const refused = new Counter({
      name: 'switchyard_xds_refused_total',
      help: 'xDS streams refused (PERMISSION_DENIED: node identity; RESOURCE_EXHAUSTED: a cap), by reason and status code',
      labelNames: ['reason', 'code'],
      registers: register,
    });
    const withheld = new Counter({
      name: 'switchyard_xds_withheld_total',
      help: 'Resources kept from a client that asked for them (a gateway Secret its identity may not read: /debug/proxies says why), by resource type',
      labelNames: ['type'],
      registers: register,
    });
    const convergence = new BucketHistogram(
      'switchyard_push_convergence_seconds',
      'From the end of the flush that produced a version to the ACK of that version, per stream and type',
      'type',
      CONVERGENCE_BUCKETS,
      registry,
    );
    const translate = new Histogram({
      name: 'switchyard_translate_seconds',
      help: 'Time a flush spent applying events to the model, translating and updating the cache',
      buckets: TRANSLATE_BUCKETS,
      registers: register,
    });
    const debounceWait = new Histogram({
      name: 'switchyard_debounce_wait_seconds',
      help: 'How long the first event of a flush waited for the debounce',
      buckets: DEBOUNCE_BUCKETS,
      registers: register,
    });
    const sourceEvents = new Counter({
      name: 'switchyard_source_events_total',
      help: 'Source events (upserts and deletes) flushed into the model, by object kind',
      labelNames: ['kind'],
      registers: register,
    });
    const flushes = new Counter({
      name: 'switchyard_flushes_total',
      help: 'Flushes of queued source events into the cache',
      registers: register,
    });
    const translateErrors = new Counter({
      name: 'switchyard_translate_errors_total',
      help: "Parts of a flush (a Service for one role, a role's routes, a gateway) that failed to translate (stage=translate) or that the cache refused (stage=cache); their last good configuration stays served and they are retried",
      labelNames: ['stage'],
      registers: register,
    });
    const sourceConnected = options.sourceConnected;
    new Gauge({
      name: 'switchyard_source_connected',
      help: '1 while the configuration source (the Kubernetes API server, or the manifest folder) is reachable',
      registers: register,
      collect() {
        this.set(sourceConnected === undefined || sourceConnected() ? 1 : 0);
      },
    });
    const problems = options.problems;
    new Gauge({
      name: 'switchyard_config_problems',
      help: 'Current configuration problems by code and severity (docs/problems.md; /debug/problems lists them)',
      labelNames: ['code', 'severity'],
      registers: register,
      collect() {
        this.reset();
        for (const problem of problems?.() ?? []) this.inc({ code: problem.code, severity: problem.severity });
      },
    });
    const degradations = degradationSource(pipeline);
    new Gauge({
      name: 'switchyard_client_degradations',
      help: 'Connected proxies that do not get a feature of their policies as written (their client lacks it or would crash on it), by feature',
      labelNames: ['feature'],
      registers: register,
      collect() {
        this.reset();
        for (const [feature, proxies] of degradedProxiesByFeature(degradations, server.streamIdentities?.() ?? server.streams()))
          this.set({ feature }, proxies);
      },
    });
    new Gauge({
      name: 'switchyard_cache_resources',
      help: 'Resources in the cache by proxy group and resource type',
      labelNames: ['group', 'type'],
      registers: register,
      collect() {
        this.reset();
        for (const group of cache.groups()) {
          for (const typeUrl of SERVED_TYPE_URLS) {
            this.set({ group, type: shortTypeName(typeUrl) }, cache.resources(group, typeUrl).size);
          }
        }
      },
    });

    const onOpened = (event: StreamIdentity) => {
      this.streams.set(event.streamId, { group: event.group, openedAt: performance.now(), measured: new Map() });
    };
    const onClosed = (event: StreamClosedEvent) => {
      this.streams.delete(event.streamId);
    };
    const onResponse = (event: ResponseSentEvent) => {
      const sums = unscraped.get(typeLabels(event.typeUrl))!;
      sums.responses++;
      sums.resources += event.resourceCount;
      sums.bytes += event.bytes;
    };
    const onNack = (event: NackEvent) => {
      nacks.inc({ type: shortTypeName(event.typeUrl), node: event.nodeId });
    };
    const onRefused = (event: RefusedEvent) => {
      refused.inc({ reason: event.reason, code: event.code });
    };
    const onWithheld = (event: WithheldEvent) => {
      withheld.inc({ type: shortTypeName(event.typeUrl) });
    };
    const onAck = (event: AckEvent) => {
      const seconds = this.convergenceOf(event);
      if (seconds !== undefined) convergence.observe(typeLabels(event.typeUrl).type, seconds);
    };
    const onFlushed = (report: FlushReport) => {
      flushes.inc();
      translate.observe(report.translateSeconds);
      debounceWait.observe(report.debounceWaitSeconds);
      for (const [kind, count] of Object.entries(report.eventCounts)) {
        if (count > 0) sourceEvents.inc({ kind }, count);
      }
      // Only changes made during this flush take its end time; a change applied to the cache
      // outside any flush keeps its own time.
      const flushStarted = report.at - report.translateSeconds * 1000;
      for (const byType of this.origins.values()) {
        for (const origin of [...byType.values()].flat()) {
          if (!origin.awaitingFlush) continue;
          origin.awaitingFlush = false;
          if (origin.at >= flushStarted && origin.at <= report.at) origin.at = report.at;
        }
      }
    };
    const onTranslateFailed = (failure: TranslateFailure) => {
      translateErrors.inc({ stage: failure.stage });
    };
    const onCacheChange = (changes: ChangeSet) => {
      // Until the flush reports its end, the change's own time stands in for it.
      const now = performance.now();
      const watchedGroups = new Set([...this.streams.values()].map((stream) => stream.group));
      for (const [group, byType] of changes) {
        // A group nobody is connected to has no one to converge; its set version is not computed.
        if (!watchedGroups.has(group)) continue;
        let ofGroup = this.origins.get(group);
        if (!ofGroup) this.origins.set(group, (ofGroup = new Map()));
        for (const typeUrl of byType.keys()) {
          const list = ofGroup.get(typeUrl) ?? [];
          list.push({ version: cache.setVersion(group, typeUrl), at: now, awaitingFlush: true });
          if (list.length > ORIGINS_KEPT) list.shift();
          ofGroup.set(typeUrl, list);
        }
      }
    };

    server.on('streamOpened', onOpened);
    server.on('streamClosed', onClosed);
    server.on('responseSent', onResponse);
    server.on('nack', onNack);
    server.on('ack', onAck);
    server.on('refused', onRefused);
    server.on('withheld', onWithheld);
    pipeline.on('flushed', onFlushed);
    pipeline.on('translateFailed', onTranslateFailed);
    const unsubscribeCache = cache.onChange(onCacheChange);
    const unsubscribeRefused =
      cache.onRefused?.((resource) => validationRejections.inc({ type: shortTypeName(resource.typeUrl) })) ?? (() => undefined);
    // Streams opened before the metrics existed still count for convergence from here on.
    for (const stream of server.streams()) {
      if (stream.group !== undefined)
        this.streams.set(stream.streamId, { group: stream.group, openedAt: performance.now(), measured: new Map() });
    }
    this.detachers.push(
      () => server.off('streamOpened', onOpened),
      () => server.off('streamClosed', onClosed),
      () => server.off('responseSent', onResponse),
      () => server.off('nack', onNack),
      () => server.off('ack', onAck),
      () => server.off('refused', onRefused),
      () => server.off('withheld', onWithheld),
      () => pipeline.off('flushed', onFlushed),
      () => pipeline.off('translateFailed', onTranslateFailed),
      unsubscribeCache,
      unsubscribeRefused,
    );
  }

  detach(): void {
    for (const detach of this.detachers.splice(0)) detach();
  }

  private convergenceOf(event: AckEvent): number | undefined {
    const stream = this.streams.get(event.streamId);
    if (!stream) return undefined;
    // The latest flush that produced this version (a revert can produce an older one again).
    const list = this.origins.get(stream.group)?.get(event.typeUrl) ?? [];
    let origin: VersionOrigin | undefined;
    for (let i = list.length - 1; i >= 0 && !origin; i--) if (list[i].version === event.version) origin = list[i];
    // A stream that connected after the flush received the version on connecting, not as a push.
    if (!origin || stream.openedAt > origin.at) return undefined;
    if (stream.measured.get(event.typeUrl) === event.version) return undefined;
    stream.measured.set(event.typeUrl, event.version);
    return Math.max(0, (performance.now() - origin.at) / 1000);
  }
}
