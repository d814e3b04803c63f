// A quick reader for the plainest YAML manifests: one document in block style, as `kubectl` and
// YAML writers emit it (no comments, anchors, tags, flow collections beyond `{}` and `[]`,
// multi-line or escaped scalars). Such a file is read in a fraction of the full parser's time,
// on the path of every file change. Whatever it is not certain about, it declines (returns
// undefined) and the full parser reads the file: its values are exactly what the full parser's
// YAML 1.2 core schema gives, and every error and problem still comes from the full parser.

/** Plain scalars that are not strings, and keys that are not plain strings, in the core schema. */
const SPECIAL_WORDS = new Set(['null', 'Null', 'NULL', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE']);
/** A plain scalar that is certainly a string: a letter, then letters, digits and `_ . / -`. */
const PLAIN_WORD = /^[A-Za-z][A-Za-z0-9_./-]*$/;
/** A decimal integer that a double holds exactly, without a leading zero or a sign. */
const PLAIN_INTEGER = /^(?:0|[1-9][0-9]{0,14})$/;
/** Digits with two dots or more (an IPv4 address, a version): no number in the core schema. */
const DOTTED_DIGITS = /^[0-9]+(?:\.[0-9]+){2,}$/;
/** A duration (`5s`, `1h`, `250ms`): digits, then a unit no number form ends with. */
const DURATION = /^[0-9]+(?:ms|s|m|h)$/;
const DOUBLE_QUOTED = /^"[^"\\]*"$/;
const SINGLE_QUOTED = /^'[^']*'$/;
/** `key:` or `key: value`, the key a plain word. */
const KEY_LINE = /^([A-Za-z][A-Za-z0-9_./-]{0,250}):(?: (.*))?$/;

/** Characters with a meaning the quick reader does not handle (comments, anchors, aliases, tags,
 * block scalars, directives, escapes), and any outside printable ASCII and the Basic Multilingual Plane. */
const SPECIAL_CHARACTERS = /[#&*!|>%@`\\]|[^\n\x20-\x7e\u00a0-\ud7ff\ue000-\ufefe\uff00-\ufffd]/;

class Declined extends Error {}

function decline(): never {
  throw new Declined();
}

function scalar(text: string): unknown {
  if (PLAIN_WORD.test(text)) {
    if (text === 'true') return true;
    if (text === 'false') return false;
    if (SPECIAL_WORDS.has(text)) decline();
    return text;
  }
  if (PLAIN_INTEGER.test(text)) return Number(text);
  if (DOTTED_DIGITS.test(text) || DURATION.test(text)) return text;
  if (DOUBLE_QUOTED.test(text) || SINGLE_QUOTED.test(text)) return text.slice(1, -1);
  if (text === '{}') return {};
  if (text === '[]') return [];
  return decline();
}

interface Line {
  indent: number;
  /** The line without its indentation. */
  text: string;
}

class Reader {
  private next = 0;

  constructor(private readonly lines: Line[]) {}

  document(): Record<string, unknown> {
    const first = this.lines[0];
    if (!first || first.indent !== 0 || first.text.startsWith('- ')) decline();
    const value = this.mapping(0, first.text);
    if (this.next !== this.lines.length) decline();
    return value;
  }

  /** A block mapping whose keys sit at `indent`; `firstText` is its first key line (after a `- `, it is not a whole line). */
  private mapping(indent: number, firstText: string): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    let text: string | undefined = firstText;
    this.next++;
    while (text !== undefined) {
      const match = KEY_LINE.exec(text);
      if (!match || SPECIAL_WORDS.has(match[1]) || Object.hasOwn(map, match[1])) decline();
      const rest = match[2];
      map[match[1]] = rest === undefined ? this.nested(indent) : scalar(rest);
      text = undefined;
      const line = this.lines[this.next];
      if (line && line.indent > indent) decline(); // a continued scalar, or nesting under a scalar
      if (line && line.indent === indent && !line.text.startsWith('- ')) {
        text = line.text;
        this.next++;
      }
    }
    return map;
  }

  /** The value of `key:` with nothing after it: a block below it, a sequence at its own indent, or null. */
  private nested(indent: number): unknown {
    const line = this.lines[this.next];
    if (line && line.indent > indent) {
      if (line.text.startsWith('- ')) return this.sequence(line.indent);
      return this.mapping(line.indent, line.text);
    }
    if (line && line.indent === indent && line.text.startsWith('- ')) return this.sequence(indent);
    decline(); // an empty value: left to the full parser
  }

  /** A block sequence whose `- ` indicators sit at `indent`. */
  private sequence(indent: number): unknown[] {
    const items: unknown[] = [];
    for (;;) {
      const line = this.lines[this.next];
      if (!line || line.indent !== indent || !line.text.startsWith('- ')) return items;
      const item = line.text.slice(2);
      if (item === '' || item.startsWith(' ')) decline();
      if (KEY_LINE.test(item)) {
        // `- key: value`: a mapping whose keys sit two columns in.
        items.push(this.mapping(indent + 2, item));
      } else {
        items.push(scalar(item));
        this.next++;
        const after = this.lines[this.next];
        if (after && after.indent > indent) decline();
      }
    }
  }
}

/**
 * The object a file holds when it is a single plain block-style document (see above), exactly as
 * the full parser would give it; undefined when the file is anything else.
 */
export function readPlainDocument(text: string): Record<string, unknown> | undefined {
  // One document, ending with one line break; nothing the quick reader leaves to the full parser.
  if (!text.endsWith('\n') || text.endsWith('\n\n') || SPECIAL_CHARACTERS.test(text) || /^---|\n---|\n\.\.\./.test(text)) return undefined;
  const lines: Line[] = [];
  for (const raw of text.slice(0, -1).split('\n')) {
    const text = raw.trimStart();
    if (text === '' || text.endsWith(' ')) return undefined;
    lines.push({ indent: raw.length - text.length, text });
  }
  try {
    return new Reader(lines).document();
  } catch (error) {
    if (error instanceof Declined) return undefined;
    throw error;
  }
}
