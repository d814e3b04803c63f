// A Switchyard replica in Kubernetes mode against the test API server, with timings short
// enough for tests: a one-second Lease, quick status batches and retries, a short debounce.
import { startKubernetesMode, type KubernetesMode, type KubernetesModeOptions } from '../../src/kubernetes/mode.js';
import { eventually, type KubeApiServer } from './kube-api-server.js';

export const TEST_LEASE = {
  name: 'switchyard',
  namespace: 'switchyard-system',
  leaseDurationSeconds: 1,
  renewDeadlineMs: 600,
  retryPeriodMs: 150,
};

/** Starts a replica named `identity`, waits until it is ready and (unless `lead: false`) leading. */
export async function startTestReplica(
  api: KubeApiServer,
  options: { identity?: string; lead?: boolean } & Partial<KubernetesModeOptions> = {},
): Promise<KubernetesMode> {
  const { identity = 'replica-a', lead = true, ...overrides } = options;
  const mode = await startKubernetesMode({
    source: { kubeConfig: api.kubeConfig(identity), backoff: { initialMs: 50, maxMs: 400 } },
    lease: { ...TEST_LEASE, identity },
    status: { batchMs: 10, retryMs: 100 },
    xdsPort: 0,
    adminPort: null,
    debounce: { quietMs: 5, maxMs: 50 },
    ...overrides,
  });
  await mode.app.ready;
  if (lead) await eventually('leadership', () => mode.leader.isLeader());
  return mode;
}
