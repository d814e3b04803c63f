// Which Service port owns each address a sidecar recognises a captured connection by: cluster
// IP and port, or a headless Service's pod IP and port. One owner per address; a second claim is
// a conflict (reported, left out), except two headless Services naming the same pod.
import { MeshModel, serviceAddresses } from '../../src/model/index.js';
import { endpointsAt, service, slice, upserts } from '../support/builders.js';

const tcp = [{ name: 'tcp-db', port: 5432 }];

function addresses(model: MeshModel): { owned: string[]; conflicts: string[] } {
  const { owned, conflicts } = serviceAddresses(model);
  const label = (a: { ip: string; port: number; service: { key: string } }) => `${a.service.key} ${a.ip}:${a.port}`;
  return { owned: owned.map(label), conflicts: conflicts.map((c) => `${label(c.address)} (owner ${c.owner.service.key})`) };
}

describe('service addresses', () => {
  it('gives two Services on one port their own cluster IPs, and reports one cluster IP and port claimed twice', () => {
    const model = new MeshModel();
    model.apply(
      upserts(
        service('a', tcp, { clusterIP: '10.96.0.1' }),
        service('b', tcp, { clusterIP: '10.96.0.2' }),
        service('c', tcp, { clusterIP: '10.96.0.1' }),
        service('no-ip', tcp),
        service('bad-ip', tcp, { clusterIP: '10.96.0.1\r\n' }),
      ),
    );
    expect(addresses(model)).toEqual({
      owned: ['shop/a 10.96.0.1:5432', 'shop/b 10.96.0.2:5432'],
      conflicts: ['shop/c 10.96.0.1:5432 (owner shop/a)'],
    });
  });

  it("the model's own table (worked out once per batch) follows every batch: a Service added, an endpoint moved", () => {
    const model = new MeshModel();
    model.apply(upserts(service('a', tcp, { clusterIP: '10.96.0.1' }), service('h', tcp, { clusterIP: 'None' })));
    const label = (a: { ip: string; port: number; service: { key: string } }) => `${a.service.key} ${a.ip}:${a.port}`;
    expect(model.addresses().owned.map(label)).toEqual(['shop/a 10.96.0.1:5432']);
    model.apply(
      upserts(service('b', tcp, { clusterIP: '10.96.0.2' }), slice('h-1', 'h', endpointsAt('10.0.0.7'), [{ name: 'tcp-db', port: 5432 }])),
    );
    expect(model.addresses().owned.map(label)).toEqual(['shop/a 10.96.0.1:5432', 'shop/b 10.96.0.2:5432', 'shop/h 10.0.0.7:5432']);
    expect(model.addresses()).toEqual(serviceAddresses(model));
  });

  it("gives a headless Service each endpoint's IP and port; two headless Services of the same pods share them, a cluster IP may not", () => {
    const model = new MeshModel();
    const ports = [{ name: 'tcp-db', port: 5432 }];
    model.apply(
      upserts(
        service('db', tcp, { clusterIP: 'None' }),
        service('db-alias', tcp, { clusterIP: 'None' }),
        service('z-clash', tcp, { clusterIP: '10.5.0.2' }),
        slice('db-1', 'db', endpointsAt('10.5.0.1', '10.5.0.2'), ports),
        slice('db-alias-1', 'db-alias', endpointsAt('10.5.0.2'), ports),
      ),
    );
    expect(addresses(model)).toEqual({
      owned: ['shop/db 10.5.0.1:5432', 'shop/db 10.5.0.2:5432'],
      conflicts: ['shop/z-clash 10.5.0.2:5432 (owner shop/db)'],
    });
  });

  it('takes the ports of a Service lowest first: of two headless ports to one container port, the lower owns the pod address', () => {
    const model = new MeshModel();
    const ports = [
      { name: 'http-alt', port: 8080, targetPort: 9000 },
      { name: 'http', port: 80, targetPort: 9000 },
    ];
    model.apply(
      upserts(
        service('web', ports, { clusterIP: 'None' }),
        slice('web-1', 'web', endpointsAt('10.5.0.7'), [
          { name: 'http-alt', port: 9000 },
          { name: 'http', port: 9000 },
        ]),
      ),
    );
    const { owned, conflicts } = serviceAddresses(model);
    expect(owned.map((a) => `${a.ip}:${a.port} ${a.servicePort.name}`)).toEqual(['10.5.0.7:9000 http']);
    expect(conflicts).toEqual([]);
  });
});
