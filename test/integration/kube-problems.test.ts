// Kubernetes mode runs the same analysis as validate: its problems reach the Event recorder
// without any wiring by the caller, and a problem fixed in the cluster leaves the tracker.
import type { KubernetesMode } from '../../src/kubernetes/mode.js';
import type { Problem } from '../../src/analysis/problem.js';
import { eventually, KubeApiServer, NS, service, trafficPolicy, type JsonObject } from '../support/kube-api-server.js';
import { startTestReplica } from '../support/kube-replica.js';

describe('configuration problems in Kubernetes mode', () => {
  let api: KubeApiServer;
  let mode: KubernetesMode | undefined;

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
    api.apply(service('reviews'));
  });

  afterEach(async () => {
    await mode?.stop();
    mode = undefined;
    await api.stop();
  });

  it('posts an Event for a policy whose Service is missing, and forgets the problem once the Service exists', async () => {
    api.apply(trafficPolicy('ratings', 'ratings'));
    api.apply(
      trafficPolicy('reviews', 'reviews', {
        split: [
          { backend: 'reviews', weight: 90 },
          { backend: 'reviews', port: 9080, weight: 20 },
        ],
      }),
    );
    mode = await startTestReplica(api, { lead: false });
    const codes = () => mode!.app.pipeline.problemTracker.problems().map((p: Problem) => `${p.code} ${p.object.name}`);
    expect(codes()).toEqual(expect.arrayContaining(['PolicyTargetNotFound ratings', 'WeightsNotHundred reviews']));
    // Objects from the API server have no file: the problem says so by leaving file and line out.
    expect(mode.app.pipeline.problemTracker.problems().every((p) => p.file === undefined && p.line === undefined)).toBe(true);

    const events = (): JsonObject[] => api.objectsOf('Event');
    await eventually('an Event on the policy', () => events().some((e) => (e.regarding as JsonObject).name === 'ratings'));
    const event = events().find((e) => (e.regarding as JsonObject).name === 'ratings')!;
    expect(event).toMatchObject({
      type: 'Warning',
      reason: 'PolicyTargetNotFound',
      regarding: { kind: 'TrafficPolicy', namespace: NS, fieldPath: 'spec.targetRef.name' },
    });

    api.apply(service('ratings'));
    await eventually('the problem is gone', () => !codes().includes('PolicyTargetNotFound ratings'));
  });
});
