// A folder of YAML manifests as a source: the initial state, then events for exactly the
// objects a file change touched. fs.watch gives quick notice; a periodic rescan catches
// what it misses (atomic replaces by editors, ConfigMap volume swaps, new subfolders).
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { log } from '../log.js';
import { canonicalJson, describeObject, located, parseManifests, toSourceEvent, type ManifestError } from './manifests.js';
import { refKey, type EventSink, type ObjectOrigin, type ObjectRef, type Source, type SourceEvent } from './types.js';

interface FilesSourceOptions {
  /** Quiet period after a file event before the folder is read again. Default 50 ms. */
  debounceMs?: number;
  /** How often to compare every file's size and mtime, for changes fs.watch missed. Default 2000 ms; 0 turns it off. */
  rescanIntervalMs?: number;
  /** Use fs.watch. Default true; without it only the periodic rescan notices changes. */
  watch?: boolean;
  /** Larger files are not read (a problem names the file and the limit). Default 8 MiB. */
  maxFileBytes?: number;
}

const DEFAULT_MAX_MANIFEST_FILE_BYTES = 8 * 1024 * 1024;

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

const MANIFEST_FILE = /\.ya?ml$/i;

/** One object's event as last read from its file, with a fingerprint to compare versions. */
interface FileObject {
  key: string;
  event: Exclude<SourceEvent, { type: 'delete' }>;
  fingerprint: string;
}

interface FileEntry {
  /** inode, size and mtime: unchanged means the file need not be read again. */
  signature: string;
  contentHash: string;
  /** The objects of the last version that parsed; kept while the file has a syntax error. */
  objects: FileObject[];
  problems: ManifestError[];
}

function fingerprintOf(event: FileObject['event']): string {
  // The origin is left out: an object that only moved down its file has not changed.
  return canonicalJson(
    event.type === 'upsert' ? { type: event.type, object: event.object } : { type: event.type, object: event.object, errors: event.errors },
  );
}

/** Manifest files under `dir`, as paths relative to it, in a stable order. Hidden entries are
 * skipped: editors' swap files, and the `..data` folders of a mounted ConfigMap (whose files
 * are reached through the symlinks beside them). */
async function listManifestFiles(dir: string, relative = ''): Promise<string[]> {
  const found: string[] = [];
  let entries;
  try {
    entries = await readdir(path.join(dir, relative), { withFileTypes: true });
  } catch (error) {
    // A subfolder removed while we walk is simply gone; the root must exist.
    if (relative !== '' && (error as NodeJS.ErrnoException).code === 'ENOENT') return found;
    throw error;
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const rel = relative === '' ? entry.name : path.join(relative, entry.name);
    if (entry.isDirectory()) found.push(...(await listManifestFiles(dir, rel)));
    else if ((entry.isFile() || entry.isSymbolicLink()) && MANIFEST_FILE.test(entry.name)) found.push(rel);
  }
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The folder's files and the objects they define; `scan` reads what changed and returns
 * the events that bring a consumer of earlier scans up to date. */
class ManifestFolder {
  private readonly files = new Map<string, FileEntry>();
  /** What consumers have been told: the ref and fingerprint of every object, by key. */
  private readonly emitted = new Map<string, { ref: ObjectRef; fingerprint: string }>();
  private duplicates: ManifestError[] = [];
  /** Where each served object is written now: it can move (a line added above it) without changing. */
  private readonly servedOrigins = new Map<string, ObjectOrigin>();

  constructor(
    readonly dir: string,
    private readonly maxFileBytes = DEFAULT_MAX_MANIFEST_FILE_BYTES,
  ) {}

  originOf(ref: ObjectRef): ObjectOrigin | undefined {
    return this.servedOrigins.get(refKey(ref));
  }

  /** Every served object's file and line, as text to compare between scans. */
  positions(): string {
    return [...this.servedOrigins].map(([key, origin]) => `${key}@${origin.file}:${origin.line}`).join('\n');
  }

  problems(): ManifestError[] {
    const fileProblems = [...this.files.keys()].sort().flatMap((rel) => this.files.get(rel)!.problems);
    return [...fileProblems, ...this.duplicates];
  }

  /** Reads the files whose size, mtime or inode changed, plus those in `reread` (every file
   * when `true`), and returns the events. */
  async scan(reread: boolean | ReadonlySet<string>): Promise<SourceEvent[]> {
    const listed = await listManifestFiles(this.dir);
    const present = new Set<string>();
    for (const rel of listed) {
      const force = reread === true || (reread !== false && reread.has(rel));
      if (await this.refresh(rel, force)) present.add(rel);
    }
    for (const rel of [...this.files.keys()]) if (!present.has(rel)) this.files.delete(rel);
    return this.diff();
  }

  /** Brings one file's entry up to date. False when the file is gone or is not a file. */
  private async refresh(rel: string, force: boolean): Promise<boolean> {
    const file = path.join(this.dir, rel);
    const previous = this.files.get(rel);
    let signature: string;
    let content: string;
    try {
      const info = await stat(file);
      if (!info.isFile()) return false;
      signature = `${info.ino}:${info.size}:${info.mtimeMs}`;
      if (previous && !force && previous.signature === signature) return true;
      if (info.size > this.maxFileBytes) {
        // Not read at all: a huge file must not cost memory or parse time. Its last good objects stay.
        const text = `file is ${mebibytes(info.size)} (${info.size} bytes), over the ${mebibytes(this.maxFileBytes)} limit for one manifest file; split it into smaller files`;
        const problem: ManifestError = { file, line: 1, type: 'unreadable', message: located(file, 1, undefined, text) };
        this.files.set(rel, { signature, contentHash: '', objects: previous?.objects ?? [], problems: [problem] });
        return true;
      }
      content = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      const problem: ManifestError = {
        file,
        line: 1,
        type: 'unreadable',
        message: located(file, 1, undefined, `cannot read: ${(error as Error).message}`),
      };
      this.files.set(rel, { signature: '', contentHash: '', objects: previous?.objects ?? [], problems: [problem] });
      return true;
    }
    const contentHash = createHash('sha256').update(content).digest('hex');
    if (previous && previous.contentHash === contentHash) {
      previous.signature = signature;
      return true;
    }
    const parsed = parseManifests(content, file);
    const syntaxErrors = parsed.errors.filter((e) => e.type === 'syntax');
    if (syntaxErrors.length > 0) {
      // Serve the last version that parsed until the file is fixed.
      this.files.set(rel, { signature, contentHash, objects: previous?.objects ?? [], problems: syntaxErrors });
      return true;
    }
    const objects = parsed.objects.map(({ object, origin }) => {
      const event = toSourceEvent(object, origin) as FileObject['event'];
      return { key: refKey(event.ref), event, fingerprint: fingerprintOf(event) };
    });
    this.files.set(rel, { signature, contentHash, objects, problems: parsed.errors });
    return true;
  }

  /** The served objects (first definition in path order wins) against what was emitted. */
  private diff(): SourceEvent[] {
    const served = new Map<string, FileObject>();
    const duplicates: ManifestError[] = [];
    for (const rel of [...this.files.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const fileObject of this.files.get(rel)!.objects) {
        const first = served.get(fileObject.key);
        if (!first) {
          served.set(fileObject.key, fileObject);
          continue;
        }
        const origin = fileObject.event.origin ?? {};
        const firstOrigin = first.event.origin ?? {};
        const file = origin.file ?? path.join(this.dir, rel);
        const ref = fileObject.event.ref;
        duplicates.push({
          file,
          line: origin.line ?? 1,
          type: 'duplicate',
          object: { kind: ref.kind, ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name },
          message: located(
            file,
            origin.line ?? 1,
            undefined,
            `${describeObject(fileObject.event.object)} is already defined at ${firstOrigin.file}:${firstOrigin.line}; this definition is ignored`,
          ),
        });
      }
    }
    this.duplicates = duplicates;
    this.servedOrigins.clear();
    for (const [key, fileObject] of served) if (fileObject.event.origin) this.servedOrigins.set(key, fileObject.event.origin);

    const events: SourceEvent[] = [];
    for (const [key, fileObject] of served) {
      if (this.emitted.get(key)?.fingerprint !== fileObject.fingerprint) events.push(fileObject.event);
    }
    const deletes: SourceEvent[] = [];
    for (const [key, { ref }] of this.emitted) if (!served.has(key)) deletes.push({ type: 'delete', ref });
    this.emitted.clear();
    for (const [key, fileObject] of served) this.emitted.set(key, { ref: fileObject.event.ref, fingerprint: fileObject.fingerprint });
    return [...events, ...deletes];
  }
}

async function assertDirectory(dir: string): Promise<void> {
  let info;
  try {
    info = await stat(dir);
  } catch (error) {
    throw new Error(`manifest folder ${dir} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (!info.isDirectory()) throw new Error(`manifest folder ${dir} is not a folder`);
}

/** Reads a folder once, without watching: for `switchyard validate` and `render`. */
export async function loadManifestDir(dir: string, maxFileBytes?: number): Promise<{ events: SourceEvent[]; problems: ManifestError[] }> {
  await assertDirectory(dir);
  const folder = new ManifestFolder(dir, maxFileBytes);
  const events = await folder.scan(true);
  return { events, problems: folder.problems() };
}

export class FilesSource implements Source {
  private readonly folder: ManifestFolder;
  private readonly debounceMs: number;
  private readonly rescanIntervalMs: number;
  private readonly useWatch: boolean;
  private sink: EventSink | undefined;
  private watcher: FSWatcher | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  /** Scans run one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The problems and object positions of the last scan, to notice when they change. */
  private lastReport = '';
  private readonly problemListeners: Array<() => void> = [];
  private lastScanError: string | undefined;
  /** Files named by watch events since the last scan; `true` when an event named none. */
  private changedFiles: Set<string> | true = new Set();

  constructor(
    readonly dir: string,
    options: FilesSourceOptions = {},
  ) {
    this.folder = new ManifestFolder(dir, options.maxFileBytes);
    this.debounceMs = options.debounceMs ?? 50;
    this.rescanIntervalMs = options.rescanIntervalMs ?? 2000;
    this.useWatch = options.watch ?? true;
  }

  async start(sink: EventSink): Promise<void> {
    if (this.sink) throw new Error('FilesSource already started');
    await assertDirectory(this.dir);
    this.sink = sink;
    const events = await this.folder.scan(true);
    this.lastReport = this.report();
    log.info('manifest folder loaded', { dir: this.dir, objects: events.length, problems: this.folder.problems().length });
    // Delivered even when empty: the consumer learns that the initial state is complete.
    sink(events);
    if (this.stopped) return;
    if (this.useWatch) this.startWatching();
    if (this.rescanIntervalMs > 0) {
      this.rescanTimer = setInterval(() => void this.enqueueScan(false), this.rescanIntervalMs);
      this.rescanTimer.unref();
    }
  }

  /** Reads every file again now; resolves when the resulting events have been delivered. */
  rescan(): Promise<void> {
    return this.enqueueScan(true);
  }

  /** Current problems: syntax errors (with the last good objects still served), documents
   * that are not usable objects, kinds not read, duplicates, unreadable files. Rejected objects
   * are events. The analysis (src/analysis/) reports them; the source does not log them. */
  problems(): ManifestError[] {
    return this.folder.problems();
  }

  /** Where an object is written now (file, line, field lines). */
  originOf(ref: ObjectRef): ObjectOrigin | undefined {
    return this.folder.originOf(ref);
  }

  /** Calls `listener` after a scan that changed `problems()` or where objects are written, with
   * no object changed (a fixed syntax error, a line added above an object). */
  onProblemsChanged(listener: () => void): void {
    this.problemListeners.push(listener);
  }

  private report(): string {
    return JSON.stringify(this.folder.problems()) + this.folder.positions();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    clearTimeout(this.debounceTimer);
    clearInterval(this.rescanTimer);
    await this.queue;
  }

  private startWatching(): void {
    try {
      this.watcher = watch(this.dir, { recursive: true, persistent: false }, (_event, filename) => this.onFileEvent(filename));
      this.watcher.on('error', (error) => {
        log.warn('manifest folder watch failed; relying on periodic rescans', { dir: this.dir, error: error.message });
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (error) {
      log.warn('cannot watch manifest folder; relying on periodic rescans', { dir: this.dir, error: (error as Error).message });
    }
  }

  private onFileEvent(filename: string | Buffer | null): void {
    if (this.stopped) return;
    // The named file is re-read even if its size and mtime look unchanged; the rest are
    // compared by signature, which catches a temporary file renamed over a manifest.
    if (filename === null) this.changedFiles = true;
    else if (this.changedFiles !== true) this.changedFiles.add(filename.toString());
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      const changed = this.changedFiles;
      this.changedFiles = new Set();
      void this.enqueueScan(changed);
    }, this.debounceMs);
  }

  private enqueueScan(reread: boolean | ReadonlySet<string>): Promise<void> {
    this.queue = this.queue.then(async () => {
      if (this.stopped || !this.sink) return;
      try {
        const events = await this.folder.scan(reread);
        if (events.length > 0) {
          log.info('manifest folder changed', { dir: this.dir, events: events.length });
          this.sink(events);
        }
        const report = this.report();
        if (report !== this.lastReport) {
          this.lastReport = report;
          // After the events: the pipeline analyses them at its next flush; this covers the rest.
          if (events.length === 0) for (const listener of this.problemListeners) listener();
        }
        this.lastScanError = undefined;
      } catch (error) {
        // Logged once per distinct failure: the periodic rescan would repeat it every interval.
        const message = (error as Error).message;
        if (message !== this.lastScanError) log.error('manifest folder scan failed', { dir: this.dir, error: message });
        this.lastScanError = message;
      }
    });
    return this.queue;
  }
}
