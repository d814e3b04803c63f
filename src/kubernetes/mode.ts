// `switchyard serve --kubernetes`: the cluster as the source, every replica serving xDS, and the
// elected leader writing TrafficPolicy status and (when given the gateway's address) Ingress status.
import { startSwitchyard, type Switchyard, type SwitchyardOptions } from '../app.js';
import { LeaderElector, type LeaderElectionOptions } from './leader.js';
import { NackTracker, PolicyStatusWriter } from './policy-status.js';
import { IngressStatusWriter, type IngressStatusAddressSource } from './ingress-status.js';
import { GatewayStatusWriter } from './gateway-status.js';
import { EventRecorder, type ProblemFeed } from './event-recorder.js';
import { KubernetesSource, type KubernetesSourceOptions } from '../sources/kubernetes.js';
import { kubernetesSecretAccessReview } from './secret-access-review.js';
import { startInjectionWebhook, type InjectionWebhook } from './injection-webhook.js';
import type { InjectionModeSettings } from '../injection/flags.js';

export interface KubernetesModeOptions extends Omit<SwitchyardOptions, 'sources'> {
  source: KubernetesSourceOptions;
  /** Leader election for the status writer; the kubeconfig is the source's. */
  lease: Omit<LeaderElectionOptions, 'kubeConfig'>;
  /** Write TrafficPolicy status (as leader). Default true. */
  writeStatus?: boolean;
  /** Status writer timing (see PolicyStatusWriterOptions). */
  status?: { batchMs?: number; retryMs?: number };
  /** The gateway's address for Ingress status (leader only, with writeStatus); none writes no Ingress status. */
  ingressStatus?: IngressStatusAddressSource & { servicePollMs?: number };
  /** Configuration problems to post as Kubernetes Events on their objects (leader only, with writeStatus).
   * Default: the analysis of this control plane (`app.pipeline.problemTracker`). */
  problems?: ProblemFeed;
  /** Serve the sidecar injection webhook (its certificate's Secret is in the Lease's namespace). */
  injection?: InjectionModeSettings;
}

export interface KubernetesMode {
  app: Switchyard;
  source: KubernetesSource;
  leader: LeaderElector;
  statusWriter: PolicyStatusWriter | undefined;
  /** AccessPolicy status (Accepted, ResolvedRefs); with writeStatus. */
  accessStatusWriter: PolicyStatusWriter | undefined;
  ingressStatusWriter: IngressStatusWriter | undefined;
  /** Gateway API status (GatewayClasses, Gateways, routes of ours); with writeStatus. */
  gatewayStatusWriter: GatewayStatusWriter | undefined;
  eventRecorder: EventRecorder | undefined;
  nacks: NackTracker;
  injection: InjectionWebhook | undefined;
  /** Stops writing, releases the Lease (so another replica leads at once), then stops serving. */
  stop(options?: { releaseLease?: boolean }): Promise<void>;
}

export async function startKubernetesMode(options: KubernetesModeOptions): Promise<KubernetesMode> {
  const {
    source: sourceOptions,
    lease,
    writeStatus = true,
    status,
    ingressStatus,
    problems,
    injection: injectionSettings,
    ...appOptions
  } = options;
  const source = new KubernetesSource(sourceOptions);
  // Gateway Secrets go only to identities the API server says may read them.
  const xdsSecurity = {
    ...appOptions.xdsSecurity,
    secretAccessReview: appOptions.xdsSecurity?.secretAccessReview ?? kubernetesSecretAccessReview(source.config),
  };
  const app = await startSwitchyard({ ...appOptions, xdsSecurity, sources: [source] });
  const leader = new LeaderElector({ ...lease, kubeConfig: source.config });
  const nacks = new NackTracker(app.server);
  // What every status writer needs: the API, the objects, the pipeline, and who leads.
  const writerBase = { kubeConfig: source.config, source, pipeline: app.pipeline, leader, ready: app.ready, ...status };
  const statusWriter = writeStatus ? new PolicyStatusWriter({ ...writerBase, nacks, server: app.server }) : undefined;
  const accessStatusWriter = writeStatus ? new PolicyStatusWriter({ ...writerBase, kind: 'AccessPolicy' }) : undefined;
  const ingressStatusWriter =
    writeStatus && ingressStatus
      ? new IngressStatusWriter({
          ...writerBase,
          address: ingressStatus,
          servicePollMs: ingressStatus.servicePollMs,
          translate: appOptions.translate,
        })
      : undefined;
  const gatewayStatusWriter = writeStatus ? new GatewayStatusWriter({ ...writerBase, nacks, server: app.server }) : undefined;
  const feed = problems ?? app.pipeline.problemTracker;
  const eventRecorder = writeStatus ? new EventRecorder({ kubeConfig: source.config, feed, leader, instance: leader.identity }) : undefined;
  const injection = injectionSettings ? await startInjectionWebhook(injectionSettings, source.config, leader, lease.namespace) : undefined;
  statusWriter?.start();
  accessStatusWriter?.start();
  ingressStatusWriter?.start();
  gatewayStatusWriter?.start();
  eventRecorder?.start();
  leader.start();
  let stopped = false;
  return {
    app,
    source,
    leader,
    statusWriter,
    accessStatusWriter,
    ingressStatusWriter,
    gatewayStatusWriter,
    eventRecorder,
    nacks,
    injection,
    async stop(stopOptions = {}) {
      if (stopped) return;
      stopped = true;
      await injection?.stop();
      await statusWriter?.stop();
      await accessStatusWriter?.stop();
      await ingressStatusWriter?.stop();
      await gatewayStatusWriter?.stop();
      await eventRecorder?.stop();
      await leader.stop({ release: stopOptions.releaseLease ?? true });
      nacks.detach();
      await app.stop();
    },
  };
}
