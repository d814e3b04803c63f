// The quick reader for plain manifests must give exactly what the full YAML parser gives, or
// decline: checked against the full parser on generated documents (YAML writers' output and
// mangled versions of it), on the repository's own manifests, and through parseManifests.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML, { stringify } from 'yaml';
import { Mesh } from '../../bench/mesh.js';
import { parseManifests } from '../../src/sources/manifests.js';
import { readPlainDocument } from '../../src/sources/plain-yaml.js';

/** What the full parser makes of `text`, with the options parseManifests gives it. */
function fullParse(text: string): { value: unknown; single: boolean } {
  const documents = YAML.parseAllDocuments(text, { merge: true, uniqueKeys: true, prettyErrors: false });
  const document = documents[0];
  const single =
    documents.length === 1 &&
    document.errors.length === 0 &&
    document.contents?.range?.[0] === 0 &&
    // parseManifests reads field lines from the document's text: it must be the whole file.
    document.contents.range[2] === text.length;
  return { value: single ? document.toJS({ maxAliasCount: 100 }) : undefined, single };
}

/** Values compared with their types and key order (JSON keeps both). */
function expectSameAsFullParser(text: string): boolean {
  const quick = readPlainDocument(text);
  if (quick === undefined) return false;
  const full = fullParse(text);
  expect({ text, single: full.single }).toEqual({ text, single: true });
  expect({ text, value: JSON.stringify(quick) }).toEqual({ text, value: JSON.stringify(full.value) });
  return true;
}

const TRICKY = [
  'x',
  'svc-1',
  'kubernetes.io/name',
  'true',
  'false',
  'True',
  'null',
  'NULL',
  '~',
  '',
  ' ',
  '0',
  '8080',
  '010',
  '0o17',
  '0x1F',
];
const TRICKIER = ['1.5', '1e3', '.inf', '-1', '+1', '10.0.0.1', '1.2.3', 'a b', 'a: b', 'a #b', '- x', '"q"', "'q'", 'yes', 'é'];
const TRICKIEST = ['a\\b', 'x:', '{}', '[]', '123456789012345', '1234567890123456', '<<', '.5', '5.', '?', '-', '[a]', '{a: 1}', 'v1'];
const WORDS = [...TRICKY, ...TRICKIER, ...TRICKIEST];

function generator(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
}

function randomValue(random: (n: number) => number, depth: number): unknown {
  const pick = random(depth > 3 ? 3 : 6);
  if (pick < 2) return WORDS[random(WORDS.length)];
  if (pick === 2) return [true, false, null, 0, 7, 8080, 1.5, -3][random(8)];
  if (pick === 3) return Array.from({ length: random(4) }, () => randomValue(random, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = random(5); i > 0; i--) object[WORDS[random(WORDS.length)] || 'k'] = randomValue(random, depth + 1);
  return object;
}

/** One small edit of the kind that makes YAML mean something else, or nothing. */
function mangle(text: string, random: (n: number) => number): string {
  const lines = text.split('\n');
  const i = random(Math.max(1, lines.length - 1));
  const edits = [
    () => (lines[i] = ' ' + lines[i]),
    () => (lines[i] = lines[i].replace(/^ /, '')),
    () => lines.splice(i, 0, lines[i]),
    () => lines.splice(i, 1),
    () => (lines[i] = lines[i].replace(/: .*$/, ': ' + WORDS[random(WORDS.length)])),
    () => (lines[i] = lines[i].replace(/: .*$/, ':')),
    () => (lines[i] = lines[i].replace(/- /, '-  ')),
    () => lines.splice(i, 0, ' '.repeat(random(6)) + ['- x', 'a: 1', '  - b: 2', 'more', '- - z'][random(5)]),
  ];
  edits[random(edits.length)]();
  return lines.join('\n');
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return yamlFiles(file);
    return /\.ya?ml$/.test(name) ? [file] : [];
  });
}

describe('readPlainDocument', () => {
  it('gives what the full parser gives, or declines, on generated and mangled documents', () => {
    const random = generator(11);
    let read = 0;
    let readMangled = 0;
    for (let n = 0; n < 4000; n++) {
      const root = randomValue(random, 0);
      const object = root !== null && typeof root === 'object' && !Array.isArray(root) ? root : { kind: 'X', value: root };
      let text = stringify(object, { indentSeq: random(2) === 0 });
      const mangled = random(2) === 1;
      if (mangled) text = mangle(text, random);
      if (expectSameAsFullParser(text)) {
        read++;
        if (mangled) readMangled++;
      }
    }
    // Both kinds were read (not all declined), so the comparison above did compare.
    expect(read).toBeGreaterThan(500);
    expect(readMangled).toBeGreaterThan(100);
  });

  it('reads the files YAML writers emit for Services and EndpointSlices, and agrees on the repository manifests', () => {
    const mesh = new Mesh({ services: 5, endpointsPerService: 10, seed: 2, policyShare: 1 });
    for (const service of mesh.services) {
      for (const object of [service.service, service.slice, service.policy]) {
        if (object) expect(expectSameAsFullParser(stringify(object))).toBe(true);
        if (object) expect(expectSameAsFullParser(stringify(object, { indentSeq: false }))).toBe(true);
      }
    }
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const files = [
      ...yamlFiles(path.join(root, 'examples')),
      ...yamlFiles(path.join(root, 'deploy')),
      ...yamlFiles(path.join(root, 'test/golden')),
    ];
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) expectSameAsFullParser(readFileSync(file, 'utf8'));
  });

  it.each([
    ['a comment', 'kind: Service\n# note\n'],
    ['an anchor and alias', 'a: &x 1\nb: *x\n'],
    ['a document marker', '---\nkind: Service\n'],
    ['two documents', 'kind: A\n---\nkind: B\n'],
    ['an empty value', 'kind: Service\nspec:\n'],
    ['a tab', 'kind:\tService\n'],
    ['a duplicate key (an error for the full parser)', 'kind: A\nkind: B\n'],
    ['null and other words', 'value: Null\n'],
    ['a number with a leading zero', 'port: 010\n'],
    ['a float', 'weight: 1.5\n'],
    ['a negative number', 'n: -1\n'],
    ['an escape', 'text: "a\\nb"\n'],
    ['a flow mapping', 'labels: {app: x}\n'],
    ['a continued scalar', 'text: a\n  b\n'],
    ['a missing final line break', 'kind: Service'],
    ['a trailing blank line', 'kind: Service\n\n'],
    ['a Windows line break', 'kind: Service\r\n'],
    ['a sequence at the top', '- a\n'],
    ['a merge key', 'a:\n  <<: {}\n'],
  ])('declines %s', (_label, text) => {
    expect(readPlainDocument(text)).toBeUndefined();
  });
});

describe('parseManifests with the quick reader', () => {
  it('gives the objects, lines and problems the full parser gives (a trailing comment sends a file to it)', () => {
    const texts = [
      stringify(new Mesh({ services: 1, endpointsPerService: 3, seed: 1 }).services[0].slice),
      'apiVersion: v1\nkind: Service\nmetadata:\n  namespace: shop\nspec:\n  ports:\n    - port: 80\n',
      'apiVersion: v1\nkind: Sevice\nmetadata:\n  name: a\n',
      'apiVersion: v1\nkind: ServiceList\nitems:\n  - apiVersion: v1\n    kind: Service\n    metadata:\n      name: a\n',
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n    - port: "80"\n',
    ];
    for (const text of texts) {
      const quick = parseManifests(text, 'f.yaml');
      const full = parseManifests(`${text}# sent to the full parser\n`, 'f.yaml');
      expect(quick.errors).toEqual(full.errors);
      expect(quick.objects.map((o) => o.object)).toEqual(full.objects.map((o) => o.object));
      expect(quick.objects.map((o) => o.origin.line)).toEqual(full.objects.map((o) => o.origin.line));
      for (const field of ['kind', 'metadata.name', 'spec.ports[0].port', 'endpoints[2].addresses[0]', 'items[0].metadata']) {
        expect(quick.objects.map((o) => o.origin.fields?.lineOf(field))).toEqual(full.objects.map((o) => o.origin.fields?.lineOf(field)));
      }
    }
  });
});
