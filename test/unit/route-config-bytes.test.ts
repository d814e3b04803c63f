// A sidecar RouteConfiguration writes its own bytes (src/translate/route-config-bytes.ts) instead of
// going through the general encoder and the validation rules. The shortcut must write
// encodeMessage's bytes exactly, and must never take a value Envoy's rules refuse: the cache still
// refuses it.
import fc from 'fast-check';
import { RouteConfigurationWriter } from '../../src/translate/route-config-bytes.js';
import { encodeMessage, TypeUrl } from '../../src/envoy/protos.js';
import { validateResource } from '../../src/envoy/validation-rules.js';
import { ResourceCache } from '../../src/cache/cache.js';
import { MeshModel } from '../../src/model/index.js';
import { translateAll } from '../../src/translate/index.js';
import { service, upserts } from '../support/builders.js';

interface Host {
  name: string;
  domains: string[];
  routes: object[];
}

const text = fc.oneof(
  fc.constantFrom('', 'api', 'api.shop.svc:80', '10.0.0.1', '[fd00::1]:80', 'ü.example', 'bad\nhost', 'nul\0'),
  fc.string(),
);

const route = fc.oneof(
  fc.constant({ match: { prefix: '/' }, route: { cluster: 'shop/api/80' }, name: 'default' }),
  // Out of field-number order: the encoder's sorted path.
  fc.constant({ name: 'default', match: { prefix: '/' }, route: { cluster: 'passthrough' } }),
  fc.constant({ match: { prefix: '/' }, route: { cluster: 'shop/api/80', timeout: { seconds: 0 } }, name: 'default' }),
  fc.constant({
    match: { path: '/x', headers: [{ name: 'x-user', stringMatch: { exact: 'a' } }] },
    route: {
      weightedClusters: {
        clusters: [
          { name: 'a', weight: { value: 1 } },
          { name: 'b', weight: { value: 3 } },
        ],
      },
    },
    name: 'route-0',
  }),
  // Broken: no action (a oneof Envoy requires), an empty cluster name, a header name Envoy refuses.
  fc.constant({ match: { prefix: '/' }, name: 'default' }),
  fc.constant({ match: { prefix: '/' }, route: { cluster: '' }, name: 'default' }),
  fc.constant({ match: { prefix: '/', headers: [{ name: 'bad header', presentMatch: true }] }, route: { cluster: 'a' } }),
);

const host: fc.Arbitrary<Host> = fc.record({
  name: text,
  domains: fc.array(text, { maxLength: 4 }),
  routes: fc.array(route, { maxLength: 3 }),
});

function written(name: string, hosts: Host[]): Uint8Array | undefined {
  const writer = new RouteConfigurationWriter(name);
  for (const { name: hostName, domains, routes } of hosts) if (!writer.virtualHost(hostName, domains, routes)) break;
  return writer.finish();
}

describe('a route configuration writing its own bytes', () => {
  it('writes encodeMessage bytes when the rules pass, and leaves every value they refuse to the general path', () => {
    let own = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.constantFrom('80', '', '8080'), fc.array(host, { maxLength: 4 }), (name, hosts) => {
        const value = { name, virtualHosts: hosts };
        const violations = validateResource(TypeUrl.RouteConfiguration, value);
        const bytes = written(name, hosts);
        if (violations.length > 0) refused++;
        if (bytes) own++;
        if (violations.length > 0) expect(bytes).toBeUndefined();
        else expect(Buffer.from(bytes!).equals(Buffer.from(encodeMessage(TypeUrl.RouteConfiguration, value)))).toBe(true);
      }),
      { numRuns: 400 },
    );
    // Both sides were tried: configurations written here, and configurations the rules refuse.
    expect(own).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });

  it('leaves a route the direct encoder does not take (an unknown field) to the general path', () => {
    expect(
      written('80', [{ name: 'a', domains: ['a'], routes: [{ match: { prefix: '/' }, route: { cluster: 'a' }, nmae: 'x' }] }]),
    ).toBeUndefined();
  });

  it('is what a sidecar route configuration writes, and is refused by the cache when a domain breaks a rule', () => {
    const model = new MeshModel();
    model.apply(
      upserts(
        service('api', [{ name: 'http', port: 80, appProtocol: 'http' }], { clusterIP: '10.96.0.10' }),
        service('bad\nname', [{ name: 'http', port: 80, appProtocol: 'http' }], { clusterIP: '10.96.0.11' }),
      ),
    );
    const [config] = translateAll(model, 'sidecar').routes;
    expect(config.encode?.()).toBeUndefined();
    const encoded = new ResourceCache().encode(config);
    expect(encoded.cached).toBeUndefined();
    expect(encoded.violations?.map((v) => `${v.path} ${v.rule}`)).toContain('virtual_hosts[1].domains[0] string.well_known_regex');
  });

  it('is cached with the bytes of its value when it passes', () => {
    const model = new MeshModel();
    model.apply(upserts(service('api', [{ name: 'http', port: 80, appProtocol: 'http' }], { clusterIP: '10.96.0.10' })));
    const [config] = translateAll(model, 'sidecar').routes;
    expect(config.encode?.()).toBeDefined();
    // Printed or copied as JSON, it is a plain resource with its value.
    expect(JSON.parse(JSON.stringify(config))).toEqual({ typeUrl: config.typeUrl, name: config.name, value: config.value });
    const encoded = new ResourceCache().encode(config);
    expect(Buffer.from(encoded.cached!.bytes).equals(Buffer.from(encodeMessage(config.typeUrl, config.value)))).toBe(true);
  });
});
