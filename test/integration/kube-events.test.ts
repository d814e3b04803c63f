// Configuration problems become events.k8s.io/v1 Events on the object at fault, posted by the
// leader only, once per problem while it lasts, and no faster than the rate limit allows.
import { EventEmitter } from 'node:events';
import type { Problem } from '../../src/analysis/problem.js';
import { EventRecorder, eventNote, REPORTING_CONTROLLER, type ProblemFeed } from '../../src/kubernetes/event-recorder.js';
import { eventually, ingressClass, KubeApiServer, NS, service, trafficPolicy, type JsonObject } from '../support/kube-api-server.js';

class FakeFeed implements ProblemFeed {
  private readonly emitter = new EventEmitter();
  current: Problem[] = [];
  problems(): Problem[] {
    return [...this.current];
  }
  onProblems(listener: (added: Problem[], removed: Problem[]) => void): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }
  change(added: Problem[], removed: Problem[] = []): void {
    this.current = [...this.current.filter((p) => !removed.includes(p)), ...added];
    this.emitter.emit('change', added, removed);
  }
}

class FakeLeader extends EventEmitter<{ started: []; lost: [] }> {
  leading = false;
  isLeader(): boolean {
    return this.leading;
  }
  set(leading: boolean): void {
    this.leading = leading;
    this.emit(leading ? 'started' : 'lost');
  }
}

function problem(name: string, overrides: Partial<Problem> = {}): Problem {
  return {
    code: 'PolicyTargetNotFound',
    severity: 'error',
    object: { kind: 'TrafficPolicy', namespace: NS, name },
    field: 'spec.targetRef.name',
    message: `TrafficPolicy ${NS}/${name}: spec.targetRef.name names Service "nowhere", which does not exist`,
    fix: 'create the Service or correct the name',
    ...overrides,
  };
}

describe('Kubernetes Events for configuration problems', () => {
  let api: KubeApiServer;
  let feed: FakeFeed;
  let leader: FakeLeader;
  let recorder: EventRecorder;
  const events = (): JsonObject[] => api.objectsOf('Event');

  function startRecorder(options: { burst?: number; refillMs?: number } = {}): void {
    recorder = new EventRecorder({ kubeConfig: api.kubeConfig('replica-a'), feed, leader, instance: 'replica-a', retryMs: 50, ...options });
    recorder.start();
  }

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
    for (const name of ['a', 'b', 'c', 'd', 'e']) api.apply(trafficPolicy(name, 'nowhere'));
    api.apply(service('reviews'));
    api.apply(ingressClass('switchyard'));
    api.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: NS }, spec: { containers: [{ name: 'web' }] } });
    feed = new FakeFeed();
    leader = new FakeLeader();
  });

  afterEach(async () => {
    await recorder?.stop();
    await api.stop();
  });

  it('posts a Warning on the object with its uid, the code as reason and the fix in the note; once while the problem lasts', async () => {
    leader.set(true);
    startRecorder();
    const first = problem('a');
    feed.change([first]);
    await eventually('an Event', () => events().length === 1);
    const [event] = events();
    expect(event).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { namespace: NS },
      type: 'Warning',
      reason: 'PolicyTargetNotFound',
      action: 'Validate',
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: 'replica-a',
      regarding: {
        apiVersion: 'switchyard.dev/v1alpha1',
        kind: 'TrafficPolicy',
        namespace: NS,
        name: 'a',
        uid: api.get('TrafficPolicy', NS, 'a')!.metadata.uid,
        fieldPath: 'spec.targetRef.name',
      },
    });
    expect(event.note).toBe(`${first.message} Fix: create the Service or correct the name`);
    expect(event.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    // The same problem found again (an equal object) is not posted again; a second one is.
    feed.change([problem('a')]);
    feed.change([problem('b', { severity: 'info', code: 'PolicyUnused' })]);
    await eventually('the second Event', () => events().length === 2);
    expect(events().find((e) => e.regarding.name === 'b')!.type).toBe('Normal');

    // Fixed, then back: posted again.
    feed.change([], [first]);
    const again = problem('a');
    feed.change([again]);
    // The API server stores the Event before the recorder hears its answer: wait for both.
    await eventually('posted again', () => events().length === 3 && recorder.posted === 3);
    expect(events()).toHaveLength(3);
  });

  it('posts a problem reported again while its Event is being posted once', async () => {
    leader.set(true);
    startRecorder();
    const hold = api.holdNext('POST', '/events');
    feed.change([problem('a')]);
    await hold.arrived;
    // Found again (an equal object) while the post is in flight: nothing more to post.
    feed.change([problem('a')]);
    hold.release();
    await eventually('the post counted', () => recorder.posted === 1);
    feed.change([problem('b')]);
    await eventually('the next problem posted', () => recorder.posted === 2);
    expect(events().map((e) => e.regarding.name)).toEqual(['a', 'b']);
  });

  it('posts only while leading; a new leader posts the problems that are open', async () => {
    startRecorder();
    feed.change([problem('a'), problem('b')]);
    const creates = () => api.writes.filter((w) => w.path.endsWith('/events')).length;
    // Other traffic goes on meanwhile; no Event is created.
    await eventually('a while', async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return true;
    });
    expect(creates()).toBe(0);
    leader.set(true);
    await eventually('both Events', () => events().length === 2);
    expect(
      events()
        .map((e) => e.regarding.name)
        .sort(),
    ).toEqual(['a', 'b']);
  });

  it('finds the object of every kind: core Services and Pods, and cluster-scoped IngressClasses with their Events in default', async () => {
    leader.set(true);
    startRecorder();
    feed.change([
      problem('reviews', { object: { kind: 'Service', namespace: NS, name: 'reviews' }, code: 'ServicePortUnnamed' }),
      problem('switchyard', { object: { kind: 'IngressClass', name: 'switchyard' }, code: 'IngressClassConflict' }),
      problem('web-1', { object: { kind: 'Pod', namespace: NS, name: 'web-1' }, code: 'PodEgressScopeInvalid' }),
      // Gone from the cluster (or only in a file): nothing to post on, and nothing breaks.
      problem('ghost', { object: { kind: 'Service', namespace: NS, name: 'ghost' } }),
      problem('weird', { object: { kind: 'Sevice', namespace: NS, name: 'weird' } }),
    ]);
    await eventually('three Events', () => events().length === 3);
    const byKind = Object.fromEntries(events().map((e) => [e.regarding.kind, e]));
    expect(byKind.Service.regarding).toMatchObject({ apiVersion: 'v1', uid: api.get('Service', NS, 'reviews')!.metadata.uid });
    expect(byKind.Pod.regarding).toMatchObject({ apiVersion: 'v1', uid: api.get('Pod', NS, 'web-1')!.metadata.uid });
    expect(byKind.IngressClass.metadata.namespace).toBe('default');
    expect(byKind.IngressClass.regarding).toMatchObject({
      apiVersion: 'networking.k8s.io/v1',
      name: 'switchyard',
      uid: api.get('IngressClass', undefined, 'switchyard')!.metadata.uid,
    });
    expect(byKind.IngressClass.regarding.namespace).toBeUndefined();
  });

  it('is rate-limited: a burst, then one per refill; a problem fixed while it waits is never posted', async () => {
    leader.set(true);
    startRecorder({ burst: 2, refillMs: 300 });
    const problems = ['a', 'b', 'c', 'd', 'e'].map((name) => problem(name));
    feed.change(problems);
    await eventually('the burst', () => events().length === 2);
    expect(
      events()
        .map((e) => e.regarding.name)
        .sort(),
    ).toEqual(['a', 'b']);
    // Fixed before its turn.
    feed.change([], [problems[3]]);
    await eventually('one more', () => events().length === 3);
    expect(
      events()
        .map((e) => e.regarding.name)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
    await eventually('the last', () => events().length === 4);
    expect(
      events()
        .map((e) => e.regarding.name)
        .sort(),
    ).toEqual(['a', 'b', 'c', 'e']);
    // The limit held: the API server saw no more Event creations than were stored.
    expect(api.writes.filter((w) => w.path.endsWith('/events'))).toHaveLength(4);
  });

  it('retries a post the API server refused', async () => {
    api.failNext('POST', 'Event', 500, 2);
    leader.set(true);
    startRecorder();
    feed.change([problem('a')]);
    await eventually('posted after the failures', () => events().length === 1);
    expect(api.writes.filter((w) => w.path.endsWith('/events'))).toHaveLength(3);
  });

  it('keeps the note within the 1 kB Kubernetes allows', () => {
    const note = eventNote(problem('a', { message: 'é'.repeat(2000) }));
    expect(Buffer.byteLength(note)).toBeLessThanOrEqual(1024);
    expect(note.endsWith('…')).toBe(true);
  });
});
