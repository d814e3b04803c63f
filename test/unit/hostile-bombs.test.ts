// Manifest bombs in a folder: a huge file, an alias bomb, deep nesting, an oversized
// EndpointSlice. Each is refused with a message naming the file (or object) and the limit;
// the rest of the folder is still served.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadManifestDir } from '../../src/sources/files.js';
import { MANIFEST_LIMITS, nestingProblem, parseManifests, toSourceEvent } from '../../src/sources/manifests.js';
import type { KubeObject } from '../../src/sources/types.js';

const GOOD_SERVICE = `apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec:
  ports: [{ name: http, port: 9080 }]
`;

function endpointSlice(count: number): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'reviews-huge', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'reviews' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 9080 }],
    endpoints: Array.from({ length: count }, (_, i) => ({
      addresses: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
      conditions: { ready: true },
    })),
  } as unknown as KubeObject;
}

const ALIAS_BOMB = [
  'apiVersion: v1',
  'kind: Service',
  'metadata: { name: lol, namespace: shop }',
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
  'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
  'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
  'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
  'spec: { ports: [{ port: 80 }], bomb: [*g,*g,*g,*g,*g,*g,*g,*g,*g] }',
  '',
].join('\n');

describe('manifest bombs', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-bombs-'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses each bomb with a message naming the file or object and the limit; the good file is served', async () => {
    writeFileSync(path.join(dir, 'a-good.yaml'), GOOD_SERVICE);
    // 9 MiB: a comment line repeated (valid YAML, so only the size can stop it).
    writeFileSync(
      path.join(dir, 'b-huge.yaml'),
      `${GOOD_SERVICE.replace('reviews', 'huge')}${'# padding padding padding padding\n'.repeat((9 * 1024 * 1024) / 34)}`,
    );
    writeFileSync(path.join(dir, 'c-alias-bomb.yaml'), ALIAS_BOMB);
    writeFileSync(
      path.join(dir, 'd-deep-flow.yaml'),
      `${GOOD_SERVICE.replace('reviews', 'deep-flow')}x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`,
    );
    writeFileSync(path.join(dir, 'e-deep-block.yaml'), `${GOOD_SERVICE.replace('reviews', 'deep-block')}x:\n  ${'- '.repeat(100_000)}x\n`);
    writeFileSync(path.join(dir, 'f-slice.yaml'), JSON.stringify(endpointSlice(5000)));

    const { events, problems } = await loadManifestDir(dir);

    const upserts = events
      .filter((event) => event.type === 'upsert')
      .map((event) => `${event.ref.kind} ${event.ref.namespace}/${event.ref.name}`);
    expect(upserts).toEqual(['Service shop/reviews']);
    const rejected = events.filter((event) => event.type === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0].type === 'rejected' && rejected[0].errors).toEqual([
      'EndpointSlice shop/reviews-huge: endpoints: 5000 entries; an EndpointSlice holds at most 1000 (the Kubernetes limit): split them over several slices',
    ]);

    const messages = problems.map((problem) => problem.message);
    expect(messages).toEqual([
      expect.stringMatching(
        /b-huge\.yaml:1: file is 9\.0 MiB \(\d+ bytes\), over the 8\.0 MiB limit for one manifest file; split it into smaller files$/,
      ),
      expect.stringMatching(/c-alias-bomb\.yaml:1: document cannot be read: Excessive alias count/),
      expect.stringMatching(/d-deep-flow\.yaml:6: YAML refused: brackets nested more than 128 deep; nesting this deep is refused$/),
      expect.stringMatching(/e-deep-block\.yaml:7: YAML refused: indented more than 512 columns; nesting this deep is refused$/),
    ]);
  });

  it('bounds an EndpointSlice from any source, before walking its entries', () => {
    const event = toSourceEvent(endpointSlice(100_000));
    expect(event.type).toBe('rejected');
    expect(event.type === 'rejected' && event.errors[0]).toContain('endpoints: 100000 entries; an EndpointSlice holds at most 1000');
    expect(toSourceEvent(endpointSlice(MANIFEST_LIMITS.maxEndpointsPerSlice)).type).toBe('upsert');
  });

  it('counts nesting outside quotes and comments only, and leaves ordinary manifests alone', () => {
    expect(nestingProblem(GOOD_SERVICE)).toBeUndefined();
    expect(nestingProblem(`a: "${'['.repeat(1000)}"\nb: '${'{'.repeat(1000)}'\n# ${'['.repeat(1000)}\n`)).toBeUndefined();
    // A closing bracket inside quotes cannot hide real nesting.
    expect(nestingProblem(`a: ${'['.repeat(100)} "${']'.repeat(100)}" ${'['.repeat(100)}`)).toMatch(/nested more than 128/);
    expect(parseManifests(`${'- '.repeat(600)}x`, 'f.yaml').errors[0].message).toBe(
      'f.yaml:1: YAML refused: indented more than 512 columns; nesting this deep is refused',
    );
  });
});
