// What the translator's golden pairs (test/golden/<case>/) cannot show: outputs that depend on
// history (a policy served from its last good spec) or that compare two translations.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MeshModel } from '../../src/model/index.js';
import { encodeMessage } from '../../src/envoy/protos.js';
import type { KubeObject, SourceEvent } from '../../src/sources/types.js';
import { translateAll, type TranslatedResources } from '../../src/translate/index.js';
import { policy, remove, service, upsert } from '../support/builders.js';

const EXAMPLES = path.resolve('examples');

function exampleEvents(): SourceEvent[] {
  const events: SourceEvent[] = [];
  for (const file of readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(path.join(EXAMPLES, file), 'utf8'))) {
      const object = doc.toJS() as KubeObject | null;
      if (object) events.push(upsert(object));
    }
  }
  return events;
}

function exampleModel(): MeshModel {
  const model = new MeshModel();
  model.apply(exampleEvents());
  return model;
}

function all(resources: TranslatedResources): Array<TranslatedResources['clusters'][number]> {
  return [...resources.clusters, ...resources.endpoints, ...resources.routes, ...resources.listeners, ...resources.secrets];
}

describe('translate: the examples', () => {
  it('is deterministic: two translations of the same model give the same bytes, whatever the event order', () => {
    const model = exampleModel();
    const bytesOf = (r: TranslatedResources) => all(r).map((x) => Buffer.from(encodeMessage(x.typeUrl, x.value)).toString('base64'));
    for (const role of ['sidecar', 'proxyless'] as const) {
      expect(bytesOf(translateAll(exampleModel(), role))).toEqual(bytesOf(translateAll(model, role)));
    }
    const reversed = new MeshModel();
    reversed.apply(exampleEvents().reverse());
    expect(bytesOf(translateAll(reversed, 'sidecar'))).toEqual(bytesOf(translateAll(model, 'sidecar')));
  });
});

describe('translate: safety while a policy is served from its last good spec', () => {
  it('never routes to a cluster that is gone: a deleted split backend leaves the split', () => {
    const m = new MeshModel();
    m.apply([
      upsert(service('api', undefined, { clusterIP: '10.96.0.1' })),
      upsert(service('v1')),
      upsert(service('v2')),
      upsert(
        policy('api', {
          targetRef: { name: 'api' },
          split: [
            { backend: 'v1', weight: 3 },
            { backend: 'v2', weight: 1 },
          ],
        }),
      ),
    ]);
    const routeOf = () =>
      (translateAll(m, 'sidecar').routes[0].value as any).virtualHosts.find((v: any) => v.name === 'shop/api/8080').routes.at(-1).route;
    expect(routeOf().weightedClusters.clusters.map((c: any) => c.name)).toEqual(['shop/v1/8080', 'shop/v2/8080']);
    m.apply([remove('Service', 'v2')]);
    // The policy is kept (last good) but its v2 backend has no cluster any more.
    expect(m.effectivePolicy('shop/api')?.current).toBe(false);
    const { clusters } = translateAll(m, 'sidecar');
    expect(clusters.map((c) => c.name)).not.toContain('shop/v2/8080');
    expect(routeOf()).toMatchObject({ cluster: 'shop/v1/8080' });
    expect(routeOf().weightedClusters).toBeUndefined();
  });
});
