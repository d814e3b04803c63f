// Where each field of a manifest object is written, so a problem with `spec.timeout` points at
// the line of `timeout:`, not at the document's first line. The document's text is kept and read
// again only when a line is asked for (a problem is being reported): most objects never are, and
// a map of every field of every object would cost more memory than the objects themselves.
import YAML, { isMap, isPair, isScalar, isSeq, LineCounter, type Node } from 'yaml';

/** `spec` + `split` -> `spec.split`; `spec.split` + 1 -> `spec.split[1]`; keys that are not identifiers are quoted. */
export function childField(parent: string, segment: string | number): string {
  if (typeof segment === 'number' || /^\d+$/.test(segment)) return `${parent}[${segment}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) return parent === '' ? segment : `${parent}.${segment}`;
  return `${parent}[${JSON.stringify(segment)}]`;
}

/** `spec.rules[0].http` -> `spec.rules[0]` -> `spec.rules` -> `spec` -> ''. */
function parentField(field: string): string {
  const match = /(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])$/.exec(field);
  return match ? field.slice(0, match.index) : '';
}

/** Deeper than any real manifest; the source refused deeper nesting before this is read. */
const MAX_DEPTH = 512;

export class FieldLines {
  private lines: Map<string, number> | undefined;

  /**
   * @param text the document (or the whole List document), starting at the beginning of a line
   * @param firstLine the line of `text`'s first character in its file
   * @param prefix where the object sits in that document: '' for a document, `items[3]` for a List item
   */
  constructor(
    private readonly text: string,
    private readonly firstLine: number,
    private readonly prefix: string,
  ) {}

  /** The line of `field` (e.g. `spec.rules[0].host`); for a field that is not written, the line of
   * the nearest enclosing one that is (a missing field is reported where its parent is). */
  lineOf(field: string): number | undefined {
    this.lines ??= this.read();
    let at = field;
    for (;;) {
      const line = this.lines.get(join(this.prefix, at));
      if (line !== undefined) return line;
      if (at === '') return undefined;
      at = parentField(at);
    }
  }

  private read(): Map<string, number> {
    const lines = new Map<string, number>();
    const counter = new LineCounter();
    let document;
    try {
      document = YAML.parseDocument(this.text, { lineCounter: counter, merge: true, uniqueKeys: false });
    } catch {
      return lines;
    }
    const lineAt = (offset: number) => counter.linePos(offset).line + this.firstLine - 1;
    const seen = new Set<Node>();
    const walk = (node: unknown, path: string, depth: number) => {
      if (!node || typeof node !== 'object' || seen.has(node as Node) || depth > MAX_DEPTH) return;
      seen.add(node as Node);
      if (isMap(node)) {
        for (const pair of node.items) {
          if (!isPair(pair) || !isScalar(pair.key)) continue;
          const key = String(pair.key.value);
          const field = childField(path, key);
          const keyRange = pair.key.range;
          if (keyRange && !lines.has(field)) lines.set(field, lineAt(keyRange[0]));
          walk(pair.value, field, depth + 1);
        }
      } else if (isSeq(node)) {
        node.items.forEach((item, index) => {
          const field = childField(path, index);
          const range = (item as { range?: [number] } | null)?.range;
          if (range) lines.set(field, lineAt(range[0]));
          walk(item, field, depth + 1);
        });
      }
    };
    const contents = document.contents;
    if (contents?.range) lines.set('', lineAt(contents.range[0]));
    walk(contents, '', 0);
    return lines;
  }
}

function join(prefix: string, field: string): string {
  if (prefix === '') return field;
  if (field === '') return prefix;
  return field.startsWith('[') ? prefix + field : `${prefix}.${field}`;
}
