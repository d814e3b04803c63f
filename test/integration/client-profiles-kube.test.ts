// The TrafficPolicy says which connected clients do not get it as written: a ClientsDegraded
// condition, written by the leader while such a client is connected and gone once it leaves.
import { TypeUrl } from '../../src/envoy/protos.js';
import type { KubernetesMode } from '../../src/kubernetes/mode.js';
import type { Condition } from '../../src/sources/types.js';
import { endpointSlice, eventually, KubeApiServer, NS, service, trafficPolicy } from '../support/kube-api-server.js';
import { testNode, XdsTestClient } from '../support/xds-client.js';
import { startTestReplica } from '../support/kube-replica.js';

describe('TrafficPolicy ClientsDegraded condition', () => {
  let api: KubeApiServer;
  let mode: KubernetesMode;
  let client: XdsTestClient;

  const condition = (name: string, type: string): Condition | undefined =>
    (api.get('TrafficPolicy', NS, name)?.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);

  beforeEach(async () => {
    api = new KubeApiServer();
    await api.start();
    api.apply(service('reviews'));
    api.apply(endpointSlice('reviews', ['10.0.0.1', '10.0.0.2']));
    api.apply(trafficPolicy('reviews-hash', 'reviews', { loadBalancer: { policy: 'RingHash', hashOn: [{ header: { name: 'x-user' } }] } }));
    mode = await startTestReplica(api);
    client = new XdsTestClient(mode.app.xdsPort);
  });

  afterEach(async () => {
    client?.close();
    await mode?.stop();
    await api.stop();
  });

  it('names gRPC C-core 1.51.1 and why while it is connected, and drops the condition when it leaves', async () => {
    await eventually('status written', () => condition('reviews-hash', 'Programmed'));
    expect(condition('reviews-hash', 'ClientsDegraded')).toBeUndefined();

    // grpc-js-xds applies RingHash as written: no condition.
    const js = client.sotw();
    js.request({
      typeUrl: TypeUrl.Cluster,
      node: testNode({ id: 'js-1', userAgentName: 'gRPC Node Pure JS', userAgentVersion: '1.14.1' }),
    });
    js.ack(await js.next(TypeUrl.Cluster));
    await js.barrier();

    const python = client.sotw();
    python.request({
      typeUrl: TypeUrl.Cluster,
      node: testNode({ id: 'py-1', userAgentName: 'gRPC C-core linux Python', userAgentVersion: 'C-core 29.0.0 Python 1.51.1' }),
    });
    const cds = await python.next(TypeUrl.Cluster);
    expect(cds.resources.find((r) => r.name === 'shop/reviews/9080')!.value).toMatchObject({ lbPolicy: 'ROUND_ROBIN' });
    python.ack(cds);

    const degraded = await eventually('ClientsDegraded written', () => condition('reviews-hash', 'ClientsDegraded'));
    expect(degraded).toMatchObject({ status: 'True', reason: 'ClientLimitations' });
    expect(degraded.message).toBe(
      'not applied as written for gRPC C-core 1.51.1 (Python) (1 proxy): shop/reviews/9080: RingHash served as round_robin: gRPC C-core 1.51.1 (Python) crashes the calling process on its first ring-hash pick (grpc/grpc#31766 (crash in the RingHash picker), fixed by grpc/grpc#32012; fixed in 1.52.0)',
    );
    expect(condition('reviews-hash', 'Programmed')?.status).toBe('True');

    python.close();
    await eventually('ClientsDegraded gone', () => condition('reviews-hash', 'ClientsDegraded') === undefined);
    js.close();
  });
});
