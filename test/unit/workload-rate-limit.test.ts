// A TrafficPolicy's rate limits in the workload shape: each port takes the limit its protocol
// uses (requests on HTTP, connections on TCP) from the first Service by key leading to it, and
// the shape id follows exactly that: equal limits, equal shape; a limit a port cannot use, no change.
import { MeshModel } from '../../src/model/index.js';
import type { PodObject } from '../../src/sources/types.js';
import { policy, service, upsert, upserts } from '../support/builders.js';

const pod = (name: string, app: string, ports: number[]) =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app } },
    spec: { containers: [{ name: 'app', ports: ports.map((containerPort) => ({ containerPort })) }] },
    status: { podIP: `10.5.0.${name.length}` },
  }) as PodObject;

const api = service(
  'api',
  [
    { name: 'http', port: 80, targetPort: 8080 },
    { name: 'db', port: 5432 },
  ],
  { selector: { app: 'api' } },
);
const requests = { requestsPerSecond: 10, burst: 20 };
const connections = { perMinute: 600 };

function shapeOf(model: MeshModel, name = 'api-0') {
  return model.workloadShape(model.workload('shop', name)!);
}

describe('rate limits in the workload shape', () => {
  it('puts the request limit on HTTP ports and the connection limit on TCP ports', () => {
    const model = new MeshModel();
    model.apply(upserts(api, pod('api-0', 'api', [8080, 5432]), policy('api', { targetRef: { name: 'api' }, rateLimit: requests })));
    expect(shapeOf(model).ports.map((p) => [p.port, p.rateLimit])).toEqual([
      [5432, undefined],
      [8080, { tokensPerFill: 10, fillIntervalMs: 1000, maxTokens: 20 }],
    ]);
    model.apply([upsert(policy('api', { targetRef: { name: 'api' }, rateLimit: { ...requests, connections } }, 2))]);
    expect(shapeOf(model).ports.map((p) => [p.port, p.rateLimit])).toEqual([
      [5432, { tokensPerFill: 600, fillIntervalMs: 60_000, maxTokens: 600 }],
      [8080, { tokensPerFill: 10, fillIntervalMs: 1000, maxTokens: 20 }],
    ]);
  });

  it('gives pods with the same limits one shape, and a new shape when a limit changes', () => {
    const model = new MeshModel();
    model.apply(upserts(api, pod('api-0', 'api', [8080, 5432]), pod('api-1', 'api', [8080, 5432])));
    const unlimited = shapeOf(model).id;
    model.apply([upsert(policy('api', { targetRef: { name: 'api' }, rateLimit: requests }))]);
    const limited = shapeOf(model).id;
    expect(limited).not.toBe(unlimited);
    expect(shapeOf(model, 'api-1').id).toBe(limited);
    model.apply([upsert(policy('api', { targetRef: { name: 'api' }, rateLimit: { requestsPerSecond: 10, burst: 30 } }, 2))]);
    expect(shapeOf(model).id).not.toBe(limited);
    // Other settings of the policy are not the inbound side's business.
    model.apply([upsert(policy('api', { targetRef: { name: 'api' }, rateLimit: requests, timeout: '2s' }, 3))]);
    expect(shapeOf(model).id).toBe(limited);
  });

  it('leaves the shape alone for a limit none of its ports uses', () => {
    const web = service('web', [{ name: 'http', port: 80, targetPort: 8080 }], { selector: { app: 'web' } });
    const model = new MeshModel();
    model.apply(upserts(web, pod('web-0', 'web', [8080])));
    const before = shapeOf(model, 'web-0').id;
    model.apply([upsert(policy('web', { targetRef: { name: 'web' }, rateLimit: { connections } }))]);
    expect(shapeOf(model, 'web-0').id).toBe(before);
    expect(shapeOf(model, 'web-0').ports[0].rateLimit).toBeUndefined();
  });

  it('takes the limit of the first Service by key when several lead to one port', () => {
    const a = service('a-admin', [{ name: 'http', port: 81, targetPort: 8080 }], { selector: { app: 'api' } });
    const model = new MeshModel();
    model.apply(
      upserts(
        api,
        a,
        pod('api-0', 'api', [8080]),
        policy('a-admin', { targetRef: { name: 'a-admin' }, rateLimit: { requestsPerSecond: 1 } }),
        policy('api', { targetRef: { name: 'api' }, rateLimit: requests }),
      ),
    );
    const port = shapeOf(model).ports.find((p) => p.port === 8080)!;
    expect(port.services).toEqual(['shop/a-admin:81', 'shop/api:80']);
    expect(port.rateLimit?.tokensPerFill).toBe(1);
  });
});
