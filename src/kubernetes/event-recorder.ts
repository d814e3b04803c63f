// Configuration problems as Kubernetes Events on the object at fault, so `kubectl describe` and
// `kubectl events` show them next to the object. Only the leader posts. Each problem is posted
// once when it appears (a problem that persists is not posted again; one that goes away and
// comes back is), and posting is rate-limited so a flood of problems cannot flood the API server:
// a token bucket, with the problems waiting their turn in a bounded queue (a problem fixed while
// it waits is never posted).
import { CoreV1Api, CustomObjectsApi, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { log } from '../log.js';
import { problemKey, type Problem } from '../analysis/problem.js';
import { microTime, type LeaderSignals } from './leader.js';

/** Where problems come from: the analysis, as problems appear and go away. */
export interface ProblemFeed {
  /** The problems now. */
  problems(): Problem[];
  /** Calls `listener` with the problems that appeared and those that went away; returns an unsubscribe. */
  onProblems(listener: (added: Problem[], removed: Problem[]) => void): () => void;
}

/** The API resource of each kind a problem can be about. */
const RESOURCES: Record<string, { group: string; version: string; plural: string; namespaced: boolean }> = {
  Service: { group: '', version: 'v1', plural: 'services', namespaced: true },
  Secret: { group: '', version: 'v1', plural: 'secrets', namespaced: true },
  Pod: { group: '', version: 'v1', plural: 'pods', namespaced: true },
  EndpointSlice: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true },
  Ingress: { group: 'networking.k8s.io', version: 'v1', plural: 'ingresses', namespaced: true },
  IngressClass: { group: 'networking.k8s.io', version: 'v1', plural: 'ingressclasses', namespaced: false },
  TrafficPolicy: { group: 'switchyard.dev', version: 'v1alpha1', plural: 'trafficpolicies', namespaced: true },
  AccessPolicy: { group: 'switchyard.dev', version: 'v1alpha1', plural: 'accesspolicies', namespaced: true },
  GatewayClass: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', namespaced: false },
  Gateway: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways', namespaced: true },
  HTTPRoute: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', namespaced: true },
  GRPCRoute: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes', namespaced: true },
  ReferenceGrant: { group: 'gateway.networking.k8s.io', version: 'v1beta1', plural: 'referencegrants', namespaced: true },
};

export const REPORTING_CONTROLLER = 'switchyard.dev/switchyard';
/** Kubernetes refuses a note longer than this (bytes). */
const MAX_NOTE_BYTES = 1024;

/** The Event's note: what is wrong, then how to fix it, within Kubernetes' limit. */
export function eventNote(problem: Problem): string {
  const note = problem.fix ? `${problem.message} Fix: ${problem.fix}` : problem.message;
  if (Buffer.byteLength(note) <= MAX_NOTE_BYTES) return note;
  let cut = note.slice(0, MAX_NOTE_BYTES - 3);
  while (Buffer.byteLength(cut) > MAX_NOTE_BYTES - 3) cut = cut.slice(0, -1);
  return `${cut}…`;
}

interface EventRecorderOptions {
  kubeConfig: KubeConfig;
  feed: ProblemFeed;
  leader: LeaderSignals;
  /** Names this replica in the Events (reportingInstance): the leader election identity. */
  instance: string;
  /** Events that may be posted at once. Default 25. */
  burst?: number;
  /** One more Event may be posted after this long. Default 1000 ms. */
  refillMs?: number;
  /** Problems waiting beyond this are dropped (oldest first). Default 1000. */
  maxQueue?: number;
  /** Retry after a failed post this long. Default 2000 ms. */
  retryMs?: number;
}

export class EventRecorder {
  /** Events created. */
  posted = 0;
  /** Problems dropped because the queue was full. */
  dropped = 0;
  private readonly events: EventsV1Api;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  /** The problems now, by key. */
  private readonly open = new Map<string, Problem>();
  /** Keys already posted (while the problem lasts). */
  private readonly done = new Set<string>();
  /** Keys waiting to be posted, oldest first. */
  private readonly queue = new Set<string>();
  private tokens: number;
  private lastRefill = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private pumping = false;
  private failing = false;
  private stopped = false;
  private readonly detachers: Array<() => void> = [];

  constructor(private readonly options: EventRecorderOptions) {
    this.events = options.kubeConfig.makeApiClient(EventsV1Api);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.tokens = options.burst ?? 25;
  }

  start(): void {
    const { feed, leader } = this.options;
    this.changed(feed.problems(), []);
    this.detachers.push(feed.onProblems((added, removed) => this.changed(added, removed)));
    const onStarted = () => {
      for (const key of this.open.keys()) if (!this.done.has(key)) this.enqueue(key);
      this.kick();
    };
    const onLost = () => this.queue.clear();
    leader.on('started', onStarted);
    leader.on('lost', onLost);
    this.detachers.push(
      () => leader.off('started', onStarted),
      () => leader.off('lost', onLost),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const detach of this.detachers.splice(0)) detach();
    await this.running;
  }

  private changed(added: Problem[], removed: Problem[]): void {
    for (const problem of removed) {
      const key = problemKey(problem);
      this.open.delete(key);
      this.done.delete(key);
      this.queue.delete(key);
    }
    for (const problem of added) {
      const key = problemKey(problem);
      this.open.set(key, problem);
      if (!this.done.has(key) && this.options.leader.isLeader()) this.enqueue(key);
    }
    this.kick();
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    const max = this.options.maxQueue ?? 1000;
    while (this.queue.size > max) {
      const oldest = this.queue.values().next().value as string;
      this.queue.delete(oldest);
      this.dropped++;
      if (this.dropped === 1 || this.dropped % 100 === 0)
        log.warn('Events: too many new problems at once; some are not posted as Events', { dropped: this.dropped });
    }
  }

  private refill(): void {
    const refillMs = this.options.refillMs ?? 1000;
    const burst = this.options.burst ?? 25;
    const earned = Math.floor((Date.now() - this.lastRefill) / refillMs);
    if (earned > 0) {
      this.tokens = Math.min(burst, this.tokens + earned);
      this.lastRefill += earned * refillMs;
    }
    if (this.tokens >= burst) this.lastRefill = Date.now();
  }

  private kick(delayMs = 0): void {
    if (this.stopped || this.pumping || this.timer || this.queue.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pumping = true;
      this.running = this.running
        .then(() => this.pump())
        .finally(() => {
          this.pumping = false;
        });
    }, delayMs);
  }

  private async pump(): Promise<void> {
    let retry = false;
    while (!this.stopped && this.queue.size > 0 && this.options.leader.isLeader()) {
      this.refill();
      if (this.tokens < 1) break;
      const key = this.queue.values().next().value as string;
      this.queue.delete(key);
      const problem = this.open.get(key);
      if (!problem) continue;
      this.tokens--;
      // Claimed before the post: the same problem found again while it is in flight is not queued
      // a second time (it would be posted twice).
      this.done.add(key);
      const outcome = await this.post(problem);
      if (outcome === 'retry') {
        this.done.delete(key);
        // Back in front: it keeps its turn.
        const rest = [...this.queue];
        this.queue.clear();
        for (const k of [key, ...rest]) this.queue.add(k);
        retry = true;
        break;
      }
      // Posted, or cannot be (its object is gone): either way not again while it lasts (it stays in
      // `done` until it is fixed).
    }
    if (this.stopped || this.queue.size === 0 || !this.options.leader.isLeader()) return;
    const wait = retry ? (this.options.retryMs ?? 2000) : Math.max(1, this.lastRefill + (this.options.refillMs ?? 1000) - Date.now());
    setImmediate(() => this.kick(wait));
  }

  /** The object's uid (Events are matched to objects by it), or undefined when it is gone. */
  private async uidOf(problem: Problem): Promise<string | undefined> {
    const resource = RESOURCES[problem.object.kind];
    const namespace = problem.object.namespace ?? '';
    const name = problem.object.name;
    let object: { metadata?: { uid?: string } };
    if (resource.group === '') {
      const kind = problem.object.kind;
      object =
        kind === 'Service'
          ? await this.core.readNamespacedService({ namespace, name })
          : kind === 'Pod'
            ? await this.core.readNamespacedPod({ namespace, name })
            : await this.core.readNamespacedSecret({ namespace, name });
    } else if (resource.namespaced) {
      object = (await this.custom.getNamespacedCustomObject({
        group: resource.group,
        version: resource.version,
        plural: resource.plural,
        namespace,
        name,
      })) as typeof object;
    } else {
      object = (await this.custom.getClusterCustomObject({
        group: resource.group,
        version: resource.version,
        plural: resource.plural,
        name,
      })) as typeof object;
    }
    return object.metadata?.uid;
  }

  private async post(problem: Problem): Promise<'posted' | 'skipped' | 'retry'> {
    const resource = RESOURCES[problem.object.kind];
    if (!resource || (resource.namespaced && !problem.object.namespace)) {
      log.debug('Events: no Kubernetes object to post a problem on', { code: problem.code, object: problem.object });
      return 'skipped';
    }
    const ref = `${problem.object.kind} ${problem.object.namespace ? `${problem.object.namespace}/` : ''}${problem.object.name}`;
    try {
      const uid = await this.uidOf(problem);
      // Events of a cluster-scoped object live in `default`, as Kubernetes' own do.
      const namespace = resource.namespaced ? problem.object.namespace! : 'default';
      const now = microTime(new Date());
      await this.events.createNamespacedEvent({
        namespace,
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name: `${problem.object.name.slice(0, 200)}.${randomBytes(8).toString('hex')}`, namespace },
          eventTime: now as unknown as Date,
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.options.instance.slice(0, 128),
          action: 'Validate',
          reason: problem.code.slice(0, 128),
          type: problem.severity === 'info' ? 'Normal' : 'Warning',
          note: eventNote(problem),
          regarding: {
            apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version,
            kind: problem.object.kind,
            name: problem.object.name,
            ...(resource.namespaced ? { namespace: problem.object.namespace } : {}),
            ...(uid ? { uid } : {}),
            ...(problem.field ? { fieldPath: problem.field } : {}),
          },
        },
      });
      this.posted++;
      this.failing = false;
      log.debug('Events: posted', { code: problem.code, object: ref });
      return 'posted';
    } catch (error) {
      const code = (error as { code?: number }).code;
      // The object is gone (its problem will go too): nothing to post on.
      if (code === 404) return 'skipped';
      // Once per streak of failures, not once per retry.
      if (!this.failing) {
        log.warn('Events: could not post a problem as an Event; retrying', {
          code: problem.code,
          object: ref,
          error: (error as Error).message.split('\n')[0],
          fix: code === 403 ? 'the service account needs events create (deploy/rbac.yaml)' : undefined,
        });
      }
      this.failing = true;
      return 'retry';
    }
  }
}
