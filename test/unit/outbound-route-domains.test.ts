// The sidecar's outbound route table gives each Service its host names and cluster IP, with and
// without the port, and leaves out a domain an earlier Service (by key) already has: Envoy refuses
// one domain in two virtual hosts. Checked against that rule written out plainly (one set of every
// domain), on short names that clash across namespaces, with IPv4 addresses (where the translator
// keeps only bare hosts in its set, and only the short names while no name or namespace has a
// dot), with an IPv6 one (where it keeps every domain), and with dotted names, which Kubernetes
// refuses but a file source may hold (where every bare host can clash).
import { MeshModel } from '../../src/model/index.js';
import { translateAll } from '../../src/translate/index.js';
import { service, upserts } from '../support/builders.js';

interface VirtualHost {
  name: string;
  domains: string[];
}

/** namespace, name: api in three namespaces and db in two, so their short names clash. */
const SERVICES = [
  ['web', 'api'],
  ['shop', 'api'],
  ['zoo', 'db'],
  ['shop', 'db'],
  ['zoo', 'api'],
];

/** Dotted names whose short name is another Service's longer one, before it by key and after it. */
const DOTTED = [...SERVICES, ['aaa', 'api.shop.svc'], ['svc', 'api.shop']];

function routeTable(services: string[][], clusterIPs: string[]): VirtualHost[] {
  const model = new MeshModel();
  const objects = services.map(([namespace, name], i) =>
    service(name, [{ name: 'http', port: 80, appProtocol: 'http' }], { clusterIP: clusterIPs[i] }, { namespace }),
  );
  model.apply(upserts(...objects));
  const routes = translateAll(model, 'sidecar').routes.find((r) => r.name === '80');
  return (routes!.value as { virtualHosts: VirtualHost[] }).virtualHosts.filter((v) => v.name !== 'passthrough');
}

/** The rule written out: Services by key, every domain in order, each left out once an earlier one has it. */
function expectedDomains(services: string[][], clusterIPs: string[]): string[][] {
  const claimed = new Set<string>();
  const byKey = services
    .map(([namespace, name], i) => ({ namespace, name, ip: clusterIPs[i] }))
    .sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
  return byKey.map(({ namespace, name, ip }) => {
    const hosts = [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
    hosts.push(ip.includes(':') ? `[${ip}]` : ip);
    return [...hosts.map((host) => `${host}:80`), ...hosts].filter((domain) => !claimed.has(domain) && claimed.add(domain));
  });
}

describe('outbound route table: domains', () => {
  it.each([
    ['IPv4 cluster IPs', ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']],
    ['an IPv6 cluster IP among them', ['10.0.0.1', 'fd00::2', '10.0.0.3', '10.0.0.4', '10.0.0.5']],
  ])('gives each Service the domains no Service before it has (%s)', (_what, ips) => {
    const table = routeTable(SERVICES, ips);
    expect(table.map((v) => v.name)).toEqual(['shop/api/80', 'shop/db/80', 'web/api/80', 'zoo/api/80', 'zoo/db/80']);
    expect(table.map((v) => v.domains)).toEqual(expectedDomains(SERVICES, ips));
    // The first api by key keeps the short name; the later ones answer to their longer names only.
    expect(table[0].domains).toEqual(expect.arrayContaining(['api', 'api:80']));
    expect(table[2].domains).not.toEqual(expect.arrayContaining(['api']));
    expect(table[2].domains).not.toEqual(expect.arrayContaining(['api:80']));
    expect(table[2].domains).toEqual(expect.arrayContaining(['api.web:80', 'api.web']));
  });

  it("leaves out a dotted short name that is another Service's longer name, and the longer name it takes first", () => {
    const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.7'];
    const table = routeTable(DOTTED, ips);
    expect(table.map((v) => v.domains)).toEqual(expectedDomains(DOTTED, ips));
    // aaa/api.shop.svc keeps its short name; shop/api then goes without `api.shop.svc`.
    expect(table[0].domains).toEqual(expect.arrayContaining(['api.shop.svc']));
    expect(table[1].domains).not.toEqual(expect.arrayContaining(['api.shop.svc']));
  });
});
