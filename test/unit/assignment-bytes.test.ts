// A ClusterLoadAssignment writes its own bytes (src/translate/assignment-bytes.ts) instead of going
// through the general encoder and the validation rules. The shortcut must write encodeMessage's
// bytes exactly, and must never take a value Envoy's rules refuse: the cache still refuses it.
import fc from 'fast-check';
import { assignmentValue, encodeAssignment, type LocalityGroup } from '../../src/translate/assignment-bytes.js';
import { deepFreeze } from '../../src/envoy/frozen.js';
import { encodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { validateResource } from '../../src/envoy/validation-rules.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { MeshModel } from '../../src/model/index.js';
import { translateEndpointsFor } from '../../src/translate/index.js';
import type { EndpointInfo } from '../../src/model/index.js';
import { endpointsAt, service, slice, upserts } from '../support/builders.js';

const tlsMetadata = (): object => ({ filterMetadata: { 'envoy.transport_socket_match': { tls: 'mesh' } } });

const endpoint = fc.record({
  address: fc.oneof(fc.constantFrom('10.0.0.1', '10.0.0.2', '', 'fd00::1', 'ünï.example'), fc.string({ maxLength: 140 })),
  port: fc.oneof(fc.constantFrom(0, 1, 8080, 65535, 65536, 70000, -1, 1.5), fc.integer({ min: -5, max: 70_000 })),
  health: fc.constantFrom('healthy', 'draining'),
  zone: fc.constantFrom('', 'zone-a'),
}) as fc.Arbitrary<EndpointInfo>;

const group = fc.record({
  zone: fc.constantFrom('', 'zone-a', 'zone-ü'),
  frozen: fc.boolean(),
  weight: fc.integer({ min: 0, max: 300 }),
  priority: fc.constantFrom(0, 1, 2, 128, 129, 1000),
  members: fc.array(endpoint, { maxLength: 6 }),
});

function groupOf(g: { zone: string; frozen: boolean; weight: number; priority: number; members: EndpointInfo[] }): LocalityGroup {
  const locality = g.zone ? { zone: g.zone } : {};
  const weight = { value: g.weight };
  return {
    locality: g.frozen ? deepFreeze(locality) : locality,
    weight: g.frozen ? deepFreeze(weight) : weight,
    priority: g.priority,
    members: g.members,
  };
}

describe('an assignment writing its own bytes', () => {
  it('writes encodeMessage bytes when the rules pass, and leaves every value they refuse to the general path', () => {
    let written = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.constantFrom('shop/cart/80', '', 'ns/ü/8080'), fc.array(group, { maxLength: 4 }), fc.boolean(), (name, gs, tls) => {
        const groups = gs.map(groupOf);
        const tlsAddresses = new Set(tls ? ['10.0.0.1', ''] : []);
        const value = assignmentValue(name, groups, tlsAddresses, tlsMetadata);
        const violations = validateResource(TypeUrl.ClusterLoadAssignment, value);
        const own = encodeAssignment(name, groups, tlsAddresses, tlsMetadata);
        if (violations.length > 0) refused++;
        if (own) written++;
        if (violations.length > 0) expect(own).toBeUndefined();
        if (own) expect(Buffer.from(own).equals(Buffer.from(encodeMessage(TypeUrl.ClusterLoadAssignment, value)))).toBe(true);
      }),
      { numRuns: 400 },
    );
    // Both sides were tried: assignments written here, and assignments the rules refuse.
    expect(written).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });

  it('takes the shortcut for an ordinary assignment (zones, priorities, the TLS tag)', () => {
    const members = (zone: string, ...addresses: string[]): EndpointInfo[] =>
      addresses.map((address) => ({ address, port: 9080, health: 'healthy', zone }));
    const groups: LocalityGroup[] = [
      {
        locality: deepFreeze({ zone: 'zone-a' }),
        weight: deepFreeze({ value: 2 }),
        priority: 0,
        members: members('zone-a', '10.0.0.1', '10.0.0.2'),
      },
      {
        locality: deepFreeze({}),
        weight: deepFreeze({ value: 1 }),
        priority: 1,
        members: [{ address: '10.0.0.3', port: 9080, health: 'draining', zone: '' }],
      },
    ];
    const tlsAddresses = new Set(['10.0.0.2']);
    const own = encodeAssignment('shop/reviews/9080', groups, tlsAddresses, tlsMetadata);
    const value = assignmentValue('shop/reviews/9080', groups, tlsAddresses, tlsMetadata);
    expect(own).toBeDefined();
    expect(Buffer.from(own!).equals(Buffer.from(encodeMessage(TypeUrl.ClusterLoadAssignment, value)))).toBe(true);
  });

  it('is still refused by the cache when an endpoint breaks a rule (a port above 65535)', () => {
    const model = new MeshModel();
    model.apply(
      upserts(
        service('reviews', [{ name: 'http', port: 9080 }]),
        slice('reviews-1', 'reviews', endpointsAt('10.0.0.1', '10.0.0.2'), [{ name: 'http', port: 70000 }]),
      ),
    );
    const [assignment] = translateEndpointsFor(model, 'shop/reviews', 'sidecar');
    expect(assignment.encode?.()).toBeUndefined();
    const encoded = new ResourceCache().encode(assignment);
    expect(encoded.cached).toBeUndefined();
    expect(encoded.violations?.map((v) => `${v.path} ${v.rule}`)).toEqual([
      'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value uint32.lte',
      'endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value uint32.lte',
    ]);
  });

  it('is cached with the bytes of its value when it passes', () => {
    const model = new MeshModel();
    model.apply(upserts(service('reviews', [{ name: 'http', port: 9080 }]), slice('reviews-1', 'reviews', endpointsAt('10.0.0.1'))));
    const [assignment] = translateEndpointsFor(model, 'shop/reviews', 'sidecar');
    // Printed or copied as JSON, it is a plain resource with its value.
    expect(JSON.parse(JSON.stringify(assignment))).toEqual({ typeUrl: assignment.typeUrl, name: assignment.name, value: assignment.value });
    const encoded = new ResourceCache().encode(assignment);
    expect(Buffer.from(encoded.cached!.bytes).equals(Buffer.from(encodeMessage(assignment.typeUrl, assignment.value)))).toBe(true);
  });
});
