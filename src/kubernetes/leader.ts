// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: a candidate takes
// the Lease when it is missing, released, or not renewed for a lease duration (measured on our
// own clock from when we last saw it change, so clock skew between replicas does not matter);
// the leader renews it every retry period; writes carry the resourceVersion they read, so two
// candidates racing for it cannot both win (the loser gets 409 Conflict). A leader that has not
// renewed within the renew deadline stops acting as leader at once, before its Lease can expire
// for the others.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { log } from '../log.js';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  /** The Lease's name and namespace. */
  name: string;
  namespace: string;
  /** Defaults to the pod name (POD_NAME) or hostname, plus a random suffix. */
  identity?: string;
  /** How long the Lease holds without renewal. Whole seconds (the Lease field is in seconds). Default 15. */
  leaseDurationSeconds?: number;
  /** A leader that has not renewed for this long gives up. Must be shorter than the lease duration. Default 10 000 ms. */
  renewDeadlineMs?: number;
  /** How often candidates try and the leader renews. Default 2000 ms. */
  retryPeriodMs?: number;
}

interface LeaderElectorEvents {
  /** This replica became the leader. */
  started: [];
  /** This replica stopped being the leader (renewal failed, or shut down). */
  lost: [];
  /** The Lease's holder changed (another replica, us, or '' when released). */
  holder: [string];
}

/** `2026-05-01T12:00:00.123000Z`: the Lease's MicroTime fields want six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function defaultIdentity(): string {
  return `${process.env.POD_NAME || hostname()}-${randomBytes(3).toString('hex')}`;
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

function errorMessage(error: unknown): string {
  const code = statusCode(error);
  const message = (error as Error | undefined)?.message?.split('\n')[0] ?? String(error);
  return code !== undefined ? `HTTP ${code}: ${message}` : message;
}

/** What decides whether the Lease changed since we last looked. */
function recordSignature(lease: V1Lease): string {
  const spec = lease.spec ?? {};
  return JSON.stringify([spec.holderIdentity ?? '', spec.renewTime ?? '', spec.leaseDurationSeconds ?? 0, spec.leaseTransitions ?? 0]);
}

/** What the leader-run writers need of the election: whether we lead, and when that changes. */
export interface LeaderSignals {
  isLeader(): boolean;
  on(event: 'started' | 'lost', listener: () => void): unknown;
  off(event: 'started' | 'lost', listener: () => void): unknown;
}

export class LeaderElector extends EventEmitter<LeaderElectorEvents> {
  readonly identity: string;
  readonly leaseDurationMs: number;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly api: CoordinationV1Api;
  private leader = false;
  private running = false;
  private loopTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private lastRenew = 0;
  private observedSignature = '';
  private observedAt = 0;
  private currentHolder = '';
  private attempt: Promise<void> = Promise.resolve();

  constructor(private readonly options: LeaderElectionOptions) {
    super();
    this.identity = options.identity ?? defaultIdentity();
    this.leaseDurationSeconds = Math.max(1, Math.round(options.leaseDurationSeconds ?? 15));
    this.leaseDurationMs = this.leaseDurationSeconds * 1000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs) {
      throw new Error(
        `leader election: the renew deadline (${this.renewDeadlineMs} ms) must be shorter than the lease duration (${this.leaseDurationMs} ms)`,
      );
    }
    if (this.retryPeriodMs >= this.renewDeadlineMs) {
      throw new Error(
        `leader election: the retry period (${this.retryPeriodMs} ms) must be shorter than the renew deadline (${this.renewDeadlineMs} ms)`,
      );
    }
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /** True while this replica holds the Lease and renewed it within the renew deadline. */
  isLeader(): boolean {
    return this.leader && Date.now() - this.lastRenew < this.renewDeadlineMs;
  }

  /** The holder last seen on the Lease ('' when none). */
  holder(): string {
    return this.currentHolder;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    log.info('leader election: candidate', { lease: `${this.options.namespace}/${this.options.name}`, identity: this.identity });
    this.tick();
  }

  /** Stops campaigning; a leader releases the Lease (holder cleared) so another replica takes over at once. */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.loopTimer);
    await this.attempt;
    const wasLeader = this.leader;
    this.setLeader(false);
    if (wasLeader && (options.release ?? true)) await this.release();
  }

  private tick(): void {
    if (!this.running) return;
    this.attempt = this.tryAcquireOrRenew()
      .then((held) => this.afterAttempt(held))
      .catch((error: unknown) => {
        log.warn('leader election: attempt failed', { identity: this.identity, error: errorMessage(error) });
        this.afterAttempt(false);
      })
      .finally(() => {
        if (this.running) this.loopTimer = setTimeout(() => this.tick(), this.retryPeriodMs);
      });
  }

  private afterAttempt(held: boolean): void {
    if (!this.running) return;
    if (held) {
      this.lastRenew = Date.now();
      this.armDeadline();
      this.setLeader(true);
    } else if (this.leader && Date.now() - this.lastRenew >= this.renewDeadlineMs) {
      this.setLeader(false);
    }
  }

  /** Fires when a renewal is overdue, even while a request hangs. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      if (this.leader && Date.now() - this.lastRenew >= this.renewDeadlineMs) {
        log.warn('leader election: could not renew the lease in time; no longer leading', {
          identity: this.identity,
          renewDeadlineMs: this.renewDeadlineMs,
        });
        this.setLeader(false);
      }
    }, this.renewDeadlineMs);
    this.deadlineTimer.unref();
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    if (!leader) clearTimeout(this.deadlineTimer);
    log.info(leader ? 'leader election: leading' : 'leader election: not leading', {
      lease: `${this.options.namespace}/${this.options.name}`,
      identity: this.identity,
    });
    this.emit(leader ? 'started' : 'lost');
  }

  private observe(lease: V1Lease): void {
    const signature = recordSignature(lease);
    if (signature !== this.observedSignature) {
      this.observedSignature = signature;
      this.observedAt = Date.now();
    }
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== this.currentHolder) {
      this.currentHolder = holder;
      this.emit('holder', holder);
    }
  }

  /** One round: true when we hold the Lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace } = this.options;
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      try {
        const created = await this.api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds: this.leaseDurationSeconds,
              acquireTime: microTime(now) as unknown as Date,
              renewTime: microTime(now) as unknown as Date,
              leaseTransitions: 0,
            },
          },
        });
        this.observe(created);
        return true;
      } catch (createError) {
        // Another candidate created it first.
        if (statusCode(createError) === 409) return false;
        throw createError;
      }
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== this.identity;
    const durationMs = (spec.leaseDurationSeconds ?? this.leaseDurationSeconds) * 1000;
    if (heldByOther && this.observedAt + durationMs > Date.now()) return false;

    const ours = holder === this.identity;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: this.leaseDurationSeconds,
        renewTime: microTime(now) as unknown as Date,
        acquireTime: (ours && spec.acquireTime ? spec.acquireTime : microTime(now)) as unknown as Date,
        leaseTransitions: ours ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const updated = await this.api.replaceNamespacedLease({ name, namespace, body: this.wire(body) });
      this.observe(updated);
      if (!ours) log.info('leader election: acquired the lease', { identity: this.identity, previousHolder: holder || '(released)' });
      return true;
    } catch (error) {
      // Someone else wrote it since we read it.
      if (statusCode(error) === 409) return false;
      throw error;
    }
  }

  /** Clears the holder so the next candidate need not wait for the Lease to expire. */
  private async release(): Promise<void> {
    const { name, namespace } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = microTime(new Date()) as unknown as Date;
      const { holderIdentity: _holder, ...rest } = lease.spec;
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: this.wire({ ...lease, spec: { ...rest, leaseDurationSeconds: 1, renewTime: now, acquireTime: now } }),
      });
      log.info('leader election: released the lease', { identity: this.identity });
    } catch (error) {
      log.warn('leader election: could not release the lease; others take over when it expires', {
        identity: this.identity,
        error: errorMessage(error),
      });
    }
  }

  /** Times read back from the server come as Dates; the Lease wants MicroTime strings. */
  private wire(lease: V1Lease): V1Lease {
    const spec = { ...lease.spec };
    for (const field of ['acquireTime', 'renewTime'] as const) {
      const value = spec[field] as unknown;
      if (value instanceof Date) spec[field] = microTime(value) as unknown as Date;
    }
    return { ...lease, spec };
  }
}
