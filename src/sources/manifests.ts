// YAML manifests -> Kubernetes objects with their file and line, and the structural checks
// every source applies before an object reaches the model.
import YAML, { isMap, isSeq, LineCounter, type Document } from 'yaml';
import { validateAccessPolicySchema, validateTrafficPolicySchema } from './crd-schema.js';
import { API_VERSIONS, checkKindRules, CLUSTER_SCOPED_KINDS, validateKindSchema } from './kube-schemas.js';
import { FieldLines } from './field-lines.js';
import { readPlainDocument } from './plain-yaml.js';
import { nearestWord } from './spelling.js';
import { RESOURCE_KINDS, type KubeObject, type ObjectOrigin, type ObjectRef, type ResourceKind, type SourceEvent } from './types.js';

export interface ManifestError {
  file: string;
  line: number;
  column?: number;
  /** `syntax`: the file is not valid YAML; `invalid`: a document is not a usable object;
   * `duplicate`: an object another file (or an earlier document) already defines;
   * `unreadable`: the file could not be read; `unknown-kind`: a kind Switchyard does not read
   * (skipped). */
  type: 'syntax' | 'invalid' | 'duplicate' | 'unreadable' | 'unknown-kind';
  /** Self-contained: starts with `file:line[:column]: `. */
  message: string;
  /** The object the document describes, as far as it names one. */
  object?: { kind: string; namespace?: string; name: string };
  /** The field at fault (`kind`, `metadata.name`). */
  field?: string;
  /** unknown-kind: the kind Switchyard reads that was probably meant (`Sevice` -> `Service`). */
  suggestion?: string;
}

interface ParsedObject {
  object: KubeObject;
  origin: { file: string; line: number; fields?: FieldLines };
}

interface ParsedManifests {
  objects: ParsedObject[];
  errors: ManifestError[];
}

/** Bounds on what one manifest may cost to read. */
export const MANIFEST_LIMITS = {
  /** `[` / `{` nesting in a file; a real manifest needs a handful. Deeper input can exhaust the YAML parser's stack. */
  maxFlowNesting: 128,
  /** Indentation plus leading `- ` / `? ` indicators on one line, i.e. block nesting. */
  maxLineIndent: 512,
  /** Aliases expanded per document: a "billion laughs" document stops here. */
  maxAliasCount: 100,
  /** Endpoints in one EndpointSlice (Kubernetes' own cap). */
  maxEndpointsPerSlice: 1000,
} as const;

/**
 * Why the text nests too deeply to hand to the YAML parser, or undefined. Brackets inside
 * quoted scalars and comments do not count; a quote opens a scalar only where a scalar can start.
 */
export function nestingProblem(text: string): string | undefined {
  let depth = 0;
  let line = 1;
  let quote: '"' | "'" | undefined;
  let previous = '\n';
  let atLineStart = true;
  let indent = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quote) {
      if (quote === '"' && char === '\\') i++;
      else if (char === quote) quote = undefined;
      else if (char === '\n') line++;
      previous = char;
      continue;
    }
    if (char === '\n') {
      line++;
      atLineStart = true;
      indent = 0;
      previous = char;
      continue;
    }
    if (atLineStart) {
      if (char === ' ' || char === '\t' || char === '-' || char === '?') {
        if (++indent > MANIFEST_LIMITS.maxLineIndent) {
          return `line ${line}: indented more than ${MANIFEST_LIMITS.maxLineIndent} columns; nesting this deep is refused`;
        }
      } else atLineStart = false;
    }
    if (char === '#' && (previous === ' ' || previous === '\t' || previous === '\n')) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
      continue;
    }
    if ((char === '"' || char === "'") && /[\s[{,:-]/.test(previous)) quote = char;
    else if (char === '[' || char === '{') {
      if (++depth > MANIFEST_LIMITS.maxFlowNesting) {
        return `line ${line}: brackets nested more than ${MANIFEST_LIMITS.maxFlowNesting} deep; nesting this deep is refused`;
      }
    } else if (char === ']' || char === '}') depth = Math.max(0, depth - 1);
    previous = char;
  }
  return undefined;
}

function isResourceKind(kind: unknown): kind is ResourceKind {
  return typeof kind === 'string' && (RESOURCE_KINDS as readonly string[]).includes(kind);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function located(file: string, line: number, column: number | undefined, text: string): string {
  return `${file}:${line}${column === undefined ? '' : `:${column}`}: ${text}`;
}

/**
 * Parses every document of a YAML file. Kinds Switchyard does not read are skipped; `List`
 * kinds are unpacked; namespaced objects without a namespace get `default`. Objects are
 * returned as written (not yet validated: see validateObject).
 */
export function parseManifests(text: string, file: string): ParsedManifests {
  const tooDeep = nestingProblem(text);
  if (tooDeep !== undefined) {
    const line = Number(/^line (\d+)/.exec(tooDeep)?.[1] ?? 1);
    return {
      objects: [],
      errors: [
        { file, line, type: 'syntax', message: located(file, line, undefined, `YAML refused: ${tooDeep.replace(/^line \d+: /, '')}`) },
      ],
    };
  }
  // The plainest files (one block-style document, as YAML writers emit them) are read quickly, to
  // the same object the full parser gives (plain-yaml.ts); anything else, and every error, is the full parser's.
  const plain = readPlainDocument(text);
  if (plain !== undefined && !isList(plain)) {
    const result: ParsedManifests = { objects: [], errors: [] };
    collect(plain, file, 1, new FieldLines(text, 1, ''), result);
    return result;
  }
  const lineCounter = new LineCounter();
  // Merge keys (<<) as kubectl's YAML reader accepts them; duplicate keys are errors, as there.
  const documents = YAML.parseAllDocuments(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const result: ParsedManifests = { objects: [], errors: [] };
  const lineOf = (offset: number | undefined) => (offset === undefined ? 1 : lineCounter.linePos(offset).line);

  for (const document of documents as Document[]) {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const pos = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
        const reason = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        result.errors.push({
          file,
          line: pos.line,
          column: pos.col,
          type: 'syntax',
          message: located(file, pos.line, pos.col, `YAML syntax error: ${reason}`),
        });
      }
      continue;
    }
    const contents = document.contents;
    if (contents === null) continue; // an empty document, e.g. after a trailing `---`
    const line = lineOf(contents.range?.[0]);
    // The document's text from the start of its first line: field lines are read from it on demand.
    const start = contents.range ? text.lastIndexOf('\n', contents.range[0] - 1) + 1 : 0;
    const documentText = contents.range ? text.slice(start, contents.range[2]) : '';
    const fieldsAt = (prefix: string) => new FieldLines(documentText, lineOf(start), prefix);
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: MANIFEST_LIMITS.maxAliasCount });
    } catch (error) {
      // An alias bomb ("Excessive alias count..."), or an alias to an anchor defined later.
      result.errors.push(invalid(file, line, `document cannot be read: ${(error as Error).message}`));
      continue;
    }
    if (value === null || value === undefined) continue;
    if (!isPlainObject(value)) {
      result.errors.push(invalid(file, line, 'not a Kubernetes object: expected a mapping with apiVersion, kind and metadata'));
      continue;
    }
    const itemsNode = isMap(contents) ? contents.get('items', true) : undefined;
    if (isList(value)) {
      value.items.forEach((item, index) => {
        const itemNode = isSeq(itemsNode) ? itemsNode.items[index] : undefined;
        const itemLine = lineOf((itemNode as { range?: [number] } | undefined)?.range?.[0] ?? contents.range?.[0]);
        collect(item, file, itemLine, fieldsAt(`items[${index}]`), result);
      });
      continue;
    }
    collect(value, file, line, fieldsAt(''), result);
  }
  return result;
}

/** A `List` kind (`v1/List`, `ServiceList`): its items are the objects. */
function isList(value: Record<string, unknown>): value is Record<string, unknown> & { items: unknown[] } {
  return typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items);
}

function invalid(file: string, line: number, text: string, extra: Partial<ManifestError> = {}): ManifestError {
  return { file, line, type: 'invalid', message: located(file, line, undefined, text), ...extra };
}

function collect(value: unknown, file: string, line: number, fields: FieldLines, result: ParsedManifests): void {
  if (!isPlainObject(value)) {
    result.errors.push(invalid(file, line, 'not a Kubernetes object: expected a mapping with apiVersion, kind and metadata'));
    return;
  }
  const kind = value.kind;
  const at = (field: string) => fields.lineOf(field) ?? line;
  if (typeof kind !== 'string' || kind === '') {
    result.errors.push(invalid(file, at('kind'), 'kind: is required (e.g. kind: Service)', { field: 'kind' }));
    return;
  }
  const metadata = isPlainObject(value.metadata) ? value.metadata : {};
  const name = typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : undefined;
  if (!isResourceKind(kind)) {
    const suggestion = nearestKind(kind);
    const namespace = typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : undefined;
    const text = suggestion
      ? `kind: "${kind}" is not a kind Switchyard reads; did you mean ${suggestion}? The document is ignored`
      : `kind: ${kind} is not read by Switchyard (it reads ${RESOURCE_KINDS.join(', ')}); the document is ignored`;
    const lineOfKind = at('kind');
    result.errors.push({
      file,
      line: lineOfKind,
      type: 'unknown-kind',
      message: located(file, lineOfKind, undefined, text),
      object: { kind, ...(namespace ? { namespace } : {}), name: name ?? '(no name)' },
      field: 'kind',
      ...(suggestion ? { suggestion } : {}),
    });
    return;
  }
  if (name === undefined) {
    result.errors.push(
      invalid(file, at('metadata.name'), `${kind}: metadata.name: is required`, {
        field: 'metadata.name',
        object: { kind, name: '(no name)' },
      }),
    );
    return;
  }
  result.objects.push({ object: normalizeObject(value as unknown as KubeObject), origin: { file, line, fields } });
}

/** The kind Switchyard reads that `kind` is a near miss of (a typo, wrong case, a plural), if any. */
function nearestKind(kind: string): ResourceKind | undefined {
  // The resource's plural (`trafficpolicies`, `services`) is a common slip too.
  const singular = kind.replace(/ies$/i, 'y').replace(/(?<=[^s])s$/i, '');
  return nearestWord(kind, RESOURCE_KINDS) ?? nearestWord(singular, RESOURCE_KINDS);
}

/** Fills in what Kubernetes would: the `default` namespace for namespaced kinds. */
export function normalizeObject<T extends KubeObject>(object: T): T {
  if (CLUSTER_SCOPED_KINDS.has(object.kind) || object.metadata.namespace) return object;
  return { ...object, metadata: { ...object.metadata, namespace: 'default' } };
}

export function objectRef(object: KubeObject): ObjectRef {
  const namespace = CLUSTER_SCOPED_KINDS.has(object.kind) ? '' : (object.metadata.namespace ?? 'default');
  return { kind: object.kind, namespace, name: object.metadata.name };
}

/** `TrafficPolicy shop/reviews`, `IngressClass switchyard`: how messages name an object. */
export function describeObject(object: unknown): string {
  const value = isPlainObject(object) ? object : {};
  const kind = typeof value.kind === 'string' ? value.kind : 'object';
  const metadata = isPlainObject(value.metadata) ? value.metadata : {};
  const name = typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : '(no name)';
  if (isResourceKind(kind) && CLUSTER_SCOPED_KINDS.has(kind)) return `${kind} ${name}`;
  const namespace = typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : 'default';
  return `${kind} ${namespace}/${name}`;
}

/**
 * Structural validation of one object: apiVersion and kind, metadata, the fields each kind
 * requires, and for TrafficPolicy and AccessPolicy the CRD's schema and rules. Each message names the
 * object and the field, e.g. `TrafficPolicy shop/reviews: spec.split[0].weight: must be at
 * most 10000 (got 20000)`. Empty when the object is valid.
 */
export function validateObject(object: unknown): string[] {
  const prefix = `${describeObject(object)}: `;
  if (!isPlainObject(object)) return [`${prefix}not a Kubernetes object`];
  const kind = object.kind;
  if (!isResourceKind(kind)) {
    return [`${prefix}kind: must be one of ${RESOURCE_KINDS.join(', ')} (got ${JSON.stringify(kind ?? null)})`];
  }
  if (kind === 'EndpointSlice' && Array.isArray(object.endpoints) && object.endpoints.length > MANIFEST_LIMITS.maxEndpointsPerSlice) {
    // Checked before the schema, which would walk every entry.
    return [
      `${prefix}endpoints: ${object.endpoints.length} entries; an EndpointSlice holds at most ${MANIFEST_LIMITS.maxEndpointsPerSlice} (the Kubernetes limit): split them over several slices`,
    ];
  }
  const messages: string[] = [];
  if (object.apiVersion !== API_VERSIONS[kind]) {
    messages.push(`apiVersion: must be ${API_VERSIONS[kind]} for a ${kind} (got ${JSON.stringify(object.apiVersion ?? null)})`);
  }
  const schemaMessages = validateKindSchema(kind, object);
  // The CRD leaves metadata open; the kind schema above checked it.
  if (kind === 'TrafficPolicy') schemaMessages.push(...validateTrafficPolicySchema(object));
  if (kind === 'AccessPolicy') schemaMessages.push(...validateAccessPolicySchema(object));
  messages.push(...schemaMessages);
  if (schemaMessages.length === 0) messages.push(...checkKindRules(kind, object));
  return messages.map((message) => prefix + message);
}

/** An upsert for a valid object, a rejection (with the messages) for an invalid one. */
export function toSourceEvent(object: KubeObject, origin?: ObjectOrigin): SourceEvent {
  const ref = objectRef(object);
  const errors = validateObject(object);
  if (errors.length > 0) return { type: 'rejected', ref, errors, object, origin };
  return { type: 'upsert', ref, object, origin };
}

/** JSON with sorted keys, so the same object written in another key order compares equal. */
export function canonicalJson(value: unknown): string {
  // Built by appending, without intermediate arrays: it runs on every object of every change.
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) text += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return text + ']';
  }
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    // The default sort orders by UTF-16 code units, as `<` does.
    const keys = Object.keys(object).sort();
    let text = '{';
    for (const key of keys) {
      const field = object[key];
      if (field === undefined) continue;
      text += (text.length === 1 ? '' : ',') + JSON.stringify(key) + ':' + canonicalJson(field);
    }
    return text + '}';
  }
  return JSON.stringify(value) ?? 'null';
}
