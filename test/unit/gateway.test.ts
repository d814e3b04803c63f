// The gateway translator beyond its golden pairs (test/golden/gateway-*): what it tells the
// pipeline (the Services and Secrets a gateway depends on, so only changes to those re-translate
// it), and its own defence against Secrets that never passed the schema (objects fed to the model
// directly): the pairs load manifests, where the schema refuses these first.
import { MeshModel } from '../../src/model/index.js';
import { translateGateway } from '../../src/translate/index.js';
import type { KubeObject, SecretObject } from '../../src/sources/types.js';
import { selfSigned, shopIngress, shopObjects, twoHostTlsIngress, type TestCertificate } from './gateway-fixtures.js';
import { policy, tlsSecret, upsert } from '../support/builders.js';

function model(...objects: KubeObject[]): MeshModel {
  const mesh = new MeshModel();
  mesh.apply(objects.map(upsert));
  return mesh;
}

let shopCert: TestCertificate;
let apiCert: TestCertificate;
beforeAll(() => {
  shopCert = selfSigned('shop.example.com');
  apiCert = selfSigned('api.example.com');
});

describe('gateway: what it depends on', () => {
  it('names the Services its routes use, not the mesh', () => {
    expect(translateGateway(model(...shopObjects(), shopIngress()), 'edge').usedServices).toEqual(['shop/frontend', 'shop/reviews']);
  });

  it("names a backend policy's split Services too", () => {
    const canary = policy('reviews-canary', {
      targetRef: { name: 'reviews' },
      split: [
        { backend: 'reviews-v1', weight: 90 },
        { backend: 'reviews-v2', weight: 10 },
      ],
    });
    const output = translateGateway(model(...shopObjects(), canary, shopIngress()), 'edge');
    expect(output.usedServices).toEqual(['shop/frontend', 'shop/reviews', 'shop/reviews-v1', 'shop/reviews-v2']);
  });

  it('names every Secret its Ingresses name, usable or not', () => {
    expect(translateGateway(model(...shopObjects(), twoHostTlsIngress(), tlsSecret('api-tls', apiCert)), 'edge').usedSecrets).toEqual([
      'shop/api-tls',
      'shop/shop-tls',
    ]);
  });
});

describe('gateway: Secrets the schema never saw', () => {
  const broken: Array<[string, (secret: SecretObject) => void, RegExp]> = [
    ['not base64', (s) => (s.data!['tls.crt'] = 'not*base64!'), /data\["tls.crt"\] is not valid base64/],
    ['without a key', (s) => delete s.data!['tls.key'], /data\["tls.key"\] is missing/],
  ];
  it.each(broken)('a Secret %s leaves out only its hosts, with one problem naming it', (_what, breakIt, message) => {
    const secret = tlsSecret('shop-tls', shopCert);
    breakIt(secret);
    const output = translateGateway(model(...shopObjects(), twoHostTlsIngress(), tlsSecret('api-tls', apiCert), secret), 'edge');
    expect(output.problems).toHaveLength(1);
    expect(output.problems[0]).toMatch(/^gateway edge: HTTPS for shop.example.com left out: /);
    expect(output.problems[0]).toMatch(message);
    expect(output.secrets.map((s) => s.name)).toEqual(['shop/api-tls']);
  });
});
