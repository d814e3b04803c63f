// Ingress status in the cluster: while this replica leads, every Ingress Switchyard serves gets
// `status.loadBalancer.ingress` set to the gateway's address, which tools such as ExternalDNS
// and Argo CD read. The address is given (--ingress-status-address) or read from the gateway's
// Service (--ingress-status-service):
// - type LoadBalancer: the addresses its load balancer reports (status.loadBalancer.ingress);
// - type ExternalName: its external name, as a hostname;
// - otherwise: its spec.externalIPs, or else its cluster IPs.
// A status is written only when it differs from what the cluster holds; an Ingress we no longer
// serve loses the address we wrote (only ours: another controller's address is left alone).
import { CoreV1Api, NetworkingV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import { isIP } from 'node:net';
import { log } from '../log.js';
import { KeyedReconciler } from './keyed-reconciler.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { KubernetesSource } from '../sources/kubernetes.js';
import { translateOptions, type TranslateOptions } from '../translate/index.js';
import { isOurIngress } from '../model/index.js';
import type { LeaderSignals } from './leader.js';

/** One entry of status.loadBalancer.ingress (ports are left out: the gateway's listeners say them). */
interface LoadBalancerAddress {
  ip?: string;
  hostname?: string;
}

export interface IngressStatusAddressSource {
  /** The gateway's Service, `<namespace>/<name>`. */
  service?: string;
  /** Fixed addresses (IPs or hostnames); used instead of the Service when given. */
  addresses?: string[];
}

/** `10.0.0.1` → { ip }, `gw.example.com` → { hostname }. */
function parseAddress(text: string): LoadBalancerAddress {
  return isIP(text) ? { ip: text } : { hostname: text };
}

/** What the gateway's Service says its address is (see the rule at the top of this file). */
export function serviceAddresses(service: V1Service): LoadBalancerAddress[] {
  const spec = service.spec ?? {};
  if (spec.type === 'LoadBalancer') {
    return (service.status?.loadBalancer?.ingress ?? []).flatMap((entry): LoadBalancerAddress[] =>
      entry.ip ? [{ ip: entry.ip }] : entry.hostname ? [{ hostname: entry.hostname }] : [],
    );
  }
  if (spec.type === 'ExternalName') return spec.externalName ? [{ hostname: spec.externalName }] : [];
  if (spec.externalIPs?.length) return spec.externalIPs.map(parseAddress);
  const clusterIPs = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  return clusterIPs.filter((ip) => ip !== 'None' && ip !== '').map((ip) => ({ ip }));
}

/** Addresses as compared: only ip and hostname, in order. */
function addressSignature(addresses: ReadonlyArray<Record<string, unknown>> | undefined): string {
  return JSON.stringify((addresses ?? []).map((a) => [a.ip ?? '', a.hostname ?? '']));
}

export function parseServiceRef(text: string): { namespace: string; name: string } {
  const parts = text.split('/');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw new Error(`--ingress-status-service: "${text}" is not <namespace>/<name> (for example switchyard-gateway/edge-gateway)`);
  }
  return { namespace: parts[0], name: parts[1] };
}

interface IngressStatusWriterOptions {
  kubeConfig: KubeConfig;
  source: KubernetesSource;
  pipeline: Pipeline;
  /** Where the address comes from. */
  address: IngressStatusAddressSource;
  /** Decides which Ingresses are ours (ingressClass), as the translator does. */
  translate?: Partial<TranslateOptions>;
  leader: LeaderSignals;
  /** Resolves once the model holds the initial state; nothing is written before. */
  ready: Promise<void>;
  /** Batch changes this long before writing. Default 50 ms. */
  batchMs?: number;
  /** Retry a failed write after this long. Default 2000 ms. */
  retryMs?: number;
  /** How often the leader reads the gateway's Service again. Default 10 000 ms. */
  servicePollMs?: number;
}

export class IngressStatusWriter {
  /** Status writes done (successful PATCHes). */
  writes = 0;
  private readonly networking: NetworkingV1Api;
  private readonly core: CoreV1Api;
  private readonly options: TranslateOptions;
  private readonly serviceRef: { namespace: string; name: string } | undefined;
  /** The gateway's address; undefined until known (nothing is written, or cleared, before). */
  private addresses: LoadBalancerAddress[] | undefined;
  private readonly writer: KeyedReconciler;
  private pollTimer: NodeJS.Timeout | undefined;
  private started = false;
  private isReady = false;
  private serviceProblemLogged = '';
  /** What we last wrote per Ingress and the resourceVersion it had before: until the watch
   * brings the written version, the stale copy must not cause a second write. */
  private readonly lastWrite = new Map<string, { signature: string; staleResourceVersion: string | undefined }>();
  private readonly detachers: Array<() => void> = [];

  constructor(private readonly writerOptions: IngressStatusWriterOptions) {
    this.networking = writerOptions.kubeConfig.makeApiClient(NetworkingV1Api);
    this.core = writerOptions.kubeConfig.makeApiClient(CoreV1Api);
    this.options = translateOptions(writerOptions.translate);
    this.writer = new KeyedReconciler({
      batchMs: writerOptions.batchMs,
      retryMs: writerOptions.retryMs,
      allKeys: () => writerOptions.source.ingressKeys(),
      canWrite: () => this.isReady && this.addresses !== undefined && writerOptions.leader.isLeader(),
      reconcileOne: (key) => this.reconcileOne(key),
    });
    const fixed = writerOptions.address.addresses?.filter((a) => a.trim() !== '') ?? [];
    if (fixed.length > 0) this.addresses = fixed.map((a) => parseAddress(a.trim()));
    else if (writerOptions.address.service) this.serviceRef = parseServiceRef(writerOptions.address.service);
    else throw new Error('Ingress status: give the gateway Service (--ingress-status-service) or its address (--ingress-status-address)');
  }

  /** The address written to our Ingresses, once known. */
  currentAddresses(): LoadBalancerAddress[] | undefined {
    return this.addresses && [...this.addresses];
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const { pipeline, source, leader } = this.writerOptions;
    const onFlushed = (report: { change: { ingresses: Set<string>; all: boolean } }) => {
      // Which Ingresses are ours depends on IngressClasses too: any Ingress change rechecks all
      // (comparisons are in memory; only differences are written).
      if (report.change.all || report.change.ingresses.size > 0) this.writer.markAll();
    };
    const onIngress = (ref: { namespace?: string; name: string }) => this.writer.mark(`${ref.namespace}/${ref.name}`);
    const onStarted = () => {
      this.writer.markAll();
      this.pollService();
    };
    const onLost = () => {
      this.writer.clear();
      this.lastWrite.clear();
      clearTimeout(this.pollTimer);
      this.pollTimer = undefined;
    };
    pipeline.on('flushed', onFlushed);
    source.on('ingress', onIngress);
    leader.on('started', onStarted);
    leader.on('lost', onLost);
    this.detachers.push(
      () => pipeline.off('flushed', onFlushed),
      () => source.off('ingress', onIngress),
      () => leader.off('started', onStarted),
      () => leader.off('lost', onLost),
    );
    this.writerOptions.ready.then(
      () => {
        this.isReady = true;
        this.writer.markAll();
      },
      () => undefined,
    );
    if (leader.isLeader()) this.pollService();
  }

  async stop(): Promise<void> {
    const stopped = this.writer.stop();
    clearTimeout(this.pollTimer);
    for (const detach of this.detachers.splice(0)) detach();
    await stopped;
  }

  /** Reads the gateway's Service now and then every servicePollMs while leading. */
  private pollService(): void {
    if (!this.serviceRef || this.writer.isStopped) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.writer.enqueue(async () => {
      await this.readService();
      if (!this.writer.isStopped && this.writerOptions.leader.isLeader()) {
        this.pollTimer = setTimeout(() => this.pollService(), this.writerOptions.servicePollMs ?? 10_000);
      }
    });
  }

  private async readService(): Promise<void> {
    const ref = this.serviceRef!;
    let next: LoadBalancerAddress[];
    try {
      next = serviceAddresses(await this.core.readNamespacedService(ref));
    } catch (error) {
      const code = (error as { code?: number }).code;
      const problem = code === 404 ? 'not found' : (error as Error).message.split('\n')[0];
      if (problem !== this.serviceProblemLogged) {
        this.serviceProblemLogged = problem;
        log.warn('Ingress status: cannot read the gateway Service; Ingress addresses are left as they are', {
          service: `${ref.namespace}/${ref.name}`,
          error: problem,
          fix: 'check --ingress-status-service and that the service account may get Services (deploy/rbac.yaml)',
        });
      }
      return;
    }
    this.serviceProblemLogged = '';
    if (
      this.addresses &&
      addressSignature(next as Array<Record<string, unknown>>) === addressSignature(this.addresses as Array<Record<string, unknown>>)
    )
      return;
    this.addresses = next;
    log.info('Ingress status: gateway address', {
      service: `${ref.namespace}/${ref.name}`,
      addresses: next.map((a) => a.ip ?? a.hostname),
    });
    this.writer.markAll();
  }

  /** The addresses an Ingress should carry, or undefined when it is not ours to touch. */
  private desired(key: string, current: Array<Record<string, unknown>>): LoadBalancerAddress[] | undefined {
    const slash = key.indexOf('/');
    const model = this.writerOptions.pipeline.model;
    const ingress = model.ingressInfo(key.slice(0, slash), key.slice(slash + 1));
    if (ingress && isOurIngress(model, ingress, this.options.ingressClass)) return this.addresses;
    // Not (or no longer) ours: take back our address, never another controller's.
    const ours = this.addresses ?? [];
    return ours.length > 0 && addressSignature(current) === addressSignature(ours as Array<Record<string, unknown>>) ? [] : undefined;
  }

  /** Writes one Ingress's status if it changed. False when the write failed (retried later). */
  private async reconcileOne(key: string): Promise<boolean> {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const state = this.writerOptions.source.ingressState(namespace, name);
    if (!state) return true;
    const current = state.status?.loadBalancer?.ingress ?? [];
    const desired = this.desired(key, current);
    if (!desired) return true;
    const signature = addressSignature(desired as Array<Record<string, unknown>>);
    if (signature === addressSignature(current)) return true;
    const previous = this.lastWrite.get(key);
    if (previous && previous.signature === signature && previous.staleResourceVersion === state.resourceVersion) return true;
    if (this.writer.isStopped || !this.writerOptions.leader.isLeader()) return true;
    try {
      await this.networking.patchNamespacedIngressStatus(
        { namespace, name, body: { status: { loadBalancer: { ingress: desired.length > 0 ? desired : null } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      this.writes++;
      this.lastWrite.set(key, { signature, staleResourceVersion: state.resourceVersion });
      log.info(desired.length > 0 ? 'Ingress status written' : 'Ingress status cleared', {
        ingress: key,
        addresses: desired.map((a) => a.ip ?? a.hostname),
      });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return true;
      log.warn('Ingress status write failed; retrying', { ingress: key, error: (error as Error).message.split('\n')[0] });
      return false;
    }
  }
}
