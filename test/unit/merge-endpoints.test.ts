// mergeEndpoints (src/model/endpoints.ts) finds an address offered twice by sorting, not with a
// map per port. Its result must be that of the rule written plainly: per port and address, the
// first offer counts unless a later one is healthier; then sorted by zone, address, port.
import fc from 'fast-check';
import { mergeEndpoints } from '../../src/model/endpoints.js';
import type { EndpointInfo, ServicePortInfo } from '../../src/model/types.js';
import type { EndpointSliceObject } from '../../src/sources/types.js';

const servicePort: ServicePortInfo = { name: 'http', port: 80, targetPort: 8080, protocol: 'http' };

/** The rule as a map per port and address, in the slices' order. */
function byTheRule(slices: EndpointSliceObject[]): EndpointInfo[] {
  const kept = new Map<string, EndpointInfo>();
  for (const slice of slices) {
    const port = slice.ports?.length ? slice.ports.find((p) => (p.name ?? '') === 'http')?.port : 8080;
    if (typeof port !== 'number') continue;
    for (const endpoint of slice.endpoints ?? []) {
      const { ready = true, serving = ready, terminating = false } = endpoint.conditions ?? {};
      const health = ready && !terminating ? 'healthy' : serving ? 'draining' : undefined;
      if (!health) continue;
      for (const address of endpoint.addresses) {
        const key = `${port} ${address}`;
        const existing = kept.get(key);
        if (existing && (existing.health === 'healthy' || health === 'draining')) continue;
        const zone = endpoint.zone ?? '';
        kept.set(key, endpoint.nodeName ? { address, port, health, zone, nodeName: endpoint.nodeName } : { address, port, health, zone });
      }
    }
  }
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...kept.values()].sort((a, b) => order(a.zone, b.zone) || order(a.address, b.address) || a.port - b.port);
}

const endpoint = fc.record(
  {
    // A few addresses, so that slices repeat them.
    addresses: fc.array(fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.10', 'fd00::1'), { minLength: 1, maxLength: 2 }),
    conditions: fc.record({ ready: fc.boolean(), serving: fc.boolean(), terminating: fc.boolean() }, { requiredKeys: [] }),
    zone: fc.constantFrom('zone-a', 'zone-b', ''),
    nodeName: fc.constantFrom('node-1', 'node-2'),
  },
  { requiredKeys: ['addresses'] },
);

const slice = fc.record({
  endpoints: fc.array(endpoint, { maxLength: 12 }),
  // No ports: the Service's target port; else the named port, another number, or none.
  ports: fc.option(
    fc.array(fc.record({ name: fc.constantFrom('http', 'grpc'), port: fc.constantFrom(8080, 9090, null) }), { maxLength: 2 }),
    {
      nil: undefined,
    },
  ),
});

describe('mergeEndpoints', () => {
  it('keeps the first offer of an address and port unless a later one is healthier, sorted by zone, address, port', () => {
    fc.assert(
      fc.property(fc.array(slice, { maxLength: 4 }), (parts) => {
        const slices = parts.map((part, i): EndpointSliceObject => ({
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: `api-${i}`, namespace: 'shop' },
          addressType: 'IPv4',
          ...part,
        }));
        expect(mergeEndpoints(slices, servicePort)).toEqual(byTheRule(slices));
      }),
      { numRuns: 1000 },
    );
  });
});
