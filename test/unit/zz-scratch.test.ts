import { readFileSync } from 'node:fs';
import { envoyRoot } from '../../src/envoy/protos.js';
import { fromProto3Json } from '../../src/envoy/proto-json.js';
import { compileAll, unsupportedRules, validateResource, describeViolation } from '../../src/envoy/validation-rules.js';
it('scratch', () => {
  compileAll(envoyRoot());
  console.log(unsupportedRules());
  for (const role of ['sidecar', 'proxyless', 'gateway']) {
    const doc = JSON.parse(readFileSync(`test/golden/render-${role}.json`, 'utf8'));
    for (const key of ['clusters', 'endpoints', 'routes', 'listeners', 'secrets']) {
      for (const r of doc[key] ?? []) {
        const url = r['@type'];
        const { '@type': _t, ...rest } = r;
        const value = fromProto3Json(url, rest);
        for (const v of validateResource(url, value)) console.log(role, describeViolation(url, String(r.name ?? r.cluster_name), v));
      }
    }
  }
});
