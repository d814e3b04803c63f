// A folder of YAML manifests as a source: the initial state, then events for exactly the
// objects a file change touched. One fs.watch per folder names the entries that changed, and only
// those are read (new subfolders are walked and watched, removed ones forgotten); a rare safety
// rescan compares every file's stat with what was read, for what the events missed.
import { createHash } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { log } from '../log.js';
import { markPush } from '../push-trace.js';
import { canonicalJson, describeObject, located, parseManifests, toSourceEvent, type ManifestError } from './manifests.js';
import { refKey, type EventSink, type ObjectOrigin, type ObjectRef, type Source, type SourceEvent } from './types.js';

interface FilesSourceOptions {
  /** Quiet period before a file written in place is read (created, renamed and deleted entries are read at once). Default 20 ms. */
  debounceMs?: number;
  /** How often to compare every file's size and mtime, for changes the file events missed. Default 60 s
   * while watching, 2 s without file events; 0 turns it off. */
  rescanIntervalMs?: number;
  /** Use fs.watch. Default true; without it only the periodic rescan notices changes. */
  watch?: boolean;
  /** Larger files are not read (a problem names the file and the limit). Default 8 MiB. */
  maxFileBytes?: number;
}

const DEFAULT_MAX_MANIFEST_FILE_BYTES = 8 * 1024 * 1024;
/**
 * Files up to this size are read synchronously: a manifest of a few KiB is read in microseconds,
 * while each trip through libuv's thread pool (stat, open, read, close) waits for a thread and a
 * turn of the event loop — milliseconds on a busy machine, on the path of every change. Larger
 * files are read without blocking the loop.
 */
const SYNC_READ_BYTES = 256 * 1024;

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

const MANIFEST_FILE = /\.ya?ml$/i;
/** The safety rescan's stats per turn of the event loop. */
const STATS_PER_TURN = 200;

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

const byPath = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Hidden entries are skipped: editors' swap and temporary files, and the `..data` folders of a
 * mounted ConfigMap (whose files are reached through the symlinks beside them). */
function isHidden(rel: string): boolean {
  return rel.split(path.sep).some((part) => part.startsWith('.'));
}

/** The manifest files and the folders under `dir`/`relative`, as paths relative to `dir`, in a stable order. */
async function walk(dir: string, relative = ''): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  let entries;
  try {
    entries = await readdir(path.join(dir, relative), { withFileTypes: true });
  } catch (error) {
    // A subfolder removed while we walk is simply gone; the root must exist.
    const code = (error as NodeJS.ErrnoException).code;
    if (relative !== '' && (code === 'ENOENT' || code === 'ENOTDIR')) return { files, dirs };
    throw error;
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const rel = relative === '' ? entry.name : path.join(relative, entry.name);
    if (entry.isDirectory()) {
      dirs.push(rel);
      const below = await walk(dir, rel);
      files.push(...below.files);
      dirs.push(...below.dirs);
    } else if ((entry.isFile() || entry.isSymbolicLink()) && MANIFEST_FILE.test(entry.name)) files.push(rel);
  }
  return { files: files.sort(byPath), dirs: dirs.sort(byPath) };
}

/** What an update found: the events, the folders that appeared (to watch), and whether the
 * problems or an object's position changed. */
interface UpdateResult {
  events: SourceEvent[];
  newDirs: string[];
  goneDirs: string[];
  reportChanged: boolean;
  /** Files read empty that held objects, left as they were (see `update`'s keepIfEmpty). */
  keptEmpty: string[];
}

/**
 * The folder's files and the objects they define. `update` reads only the paths it is given
 * (a file, or a folder: everything under it) and returns the events for the objects those files
 * define or used to define: its cost follows the change, not the folder.
 */
class ManifestFolder {
  private readonly files = new Map<string, FileEntry>();
  /** The files defining each object, by key: the first in path order is served, the rest are duplicates. */
  private readonly owners = new Map<string, Set<string>>();
  /** What consumers have been told: the ref and fingerprint of every object, by key. */
  private readonly emitted = new Map<string, { ref: ObjectRef; fingerprint: string }>();
  private readonly duplicates = new Map<string, ManifestError[]>();
  /** Where each served object is written now: it can move (a line added above it) without changing. */
  private readonly servedOrigins = new Map<string, ObjectOrigin>();
  private problemList: ManifestError[] | undefined;

  constructor(
    readonly dir: string,
    private readonly maxFileBytes = DEFAULT_MAX_MANIFEST_FILE_BYTES,
  ) {}

  originOf(ref: ObjectRef): ObjectOrigin | undefined {
    return this.servedOrigins.get(refKey(ref));
  }

  problems(): ManifestError[] {
    if (!this.problemList) {
      const fileProblems = [...this.files.keys()].sort(byPath).flatMap((rel) => this.files.get(rel)!.problems);
      this.problemList = [...fileProblems, ...[...this.duplicates.values()].flat()];
    }
    return this.problemList;
  }

  /** Reads every file: the initial state (and `validate`). */
  async loadAll(): Promise<UpdateResult & { dirs: string[] }> {
    const { files, dirs } = await walk(this.dir);
    const result = await this.update(files, true);
    return { ...result, dirs };
  }

  /**
   * The paths whose size, mtime or inode differ from what was last read, plus known files that
   * are gone and files not known yet: a cheap check (stats only, nothing read) for what file
   * events may have missed.
   */
  async changedOnDisk(): Promise<string[]> {
    const { files } = await walk(this.dir);
    const changed: string[] = [];
    const listed = new Set(files);
    for (const [index, rel] of files.entries()) {
      // Stats are answered from the inode cache, so they are done synchronously, a few hundred
      // (about a millisecond) per turn of the event loop: a trip through the thread pool per file
      // cost several times the CPU, once a minute, for nothing.
      if (index > 0 && index % STATS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      const known = this.files.get(rel);
      if (!known) {
        changed.push(rel);
        continue;
      }
      try {
        const info = statSync(path.join(this.dir, rel));
        if (signatureOf(info) !== known.signature) changed.push(rel);
      } catch {
        changed.push(rel);
      }
    }
    for (const rel of this.files.keys()) if (!listed.has(rel)) changed.push(rel);
    return changed;
  }

  /**
   * Brings the named paths up to date — a file is read again (unless `skipUnchanged` and its
   * signature is the same), a folder is walked, a path that is gone removes what was under it —
   * and returns the events for every object they touched.
   */
  async update(paths: Iterable<string>, skipUnchanged = false, keepIfEmpty: ReadonlySet<string> = new Set()): Promise<UpdateResult> {
    const touched = new Set<string>();
    const result: UpdateResult = { events: [], newDirs: [], goneDirs: [], reportChanged: false, keptEmpty: [] };
    const seen = new Set<string>();
    for (const rel of paths) {
      if (seen.has(rel)) continue;
      seen.add(rel);
      let info;
      try {
        // A stat is answered from the inode cache: at once, without a trip through the thread pool.
        info = statSync(path.join(this.dir, rel));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') {
          this.readFailed(rel, error, touched, result);
          continue;
        }
        // Gone (deleted, or renamed away): with everything that was under it.
        result.goneDirs.push(rel);
        for (const known of [...this.files.keys()])
          if (known === rel || known.startsWith(rel + path.sep)) this.forget(known, touched, result);
        continue;
      }
      if (info.isDirectory()) {
        // A folder that appeared (or was renamed in): everything in it, and its subfolders to watch.
        const below = await walk(this.dir, rel);
        result.newDirs.push(rel, ...below.dirs);
        const listed = new Set(below.files);
        for (const known of [...this.files.keys()])
          if (known.startsWith(rel + path.sep) && !listed.has(known)) this.forget(known, touched, result);
        for (const file of below.files) if (!seen.has(file)) await this.refresh(file, skipUnchanged, touched, result);
        continue;
      }
      if (!info.isFile() || !MANIFEST_FILE.test(rel) || isHidden(rel)) {
        if (this.files.has(rel)) this.forget(rel, touched, result);
        continue;
      }
      if (info.size === 0 && keepIfEmpty.has(rel) && (this.files.get(rel)?.objects.length ?? 0) > 0) {
        // Truncated by a write in place that is still going on, most likely: its objects stay.
        result.keptEmpty.push(rel);
        continue;
      }
      await this.refresh(rel, skipUnchanged, touched, result, info);
    }
    result.events = this.diff(touched, result);
    return result;
  }

  private forget(rel: string, touched: Set<string>, result: UpdateResult): void {
    const entry = this.files.get(rel)!;
    this.files.delete(rel);
    this.setObjects(rel, entry.objects, [], touched);
    if (entry.problems.length > 0) {
      result.reportChanged = true;
      this.problemList = undefined;
    }
  }

  private readFailed(rel: string, error: unknown, touched: Set<string>, result: UpdateResult): void {
    const file = path.join(this.dir, rel);
    const previous = this.files.get(rel);
    const problem: ManifestError = {
      file,
      line: 1,
      type: 'unreadable',
      message: located(file, 1, undefined, `cannot read: ${(error as Error).message}`),
    };
    this.store(rel, { signature: '', contentHash: '', objects: previous?.objects ?? [], problems: [problem] }, touched, result);
  }

  /** Reads one file again (`known`: its stat, when the caller just took it). */
  private async refresh(rel: string, skipUnchanged: boolean, touched: Set<string>, result: UpdateResult, known?: Stats): Promise<void> {
    const file = path.join(this.dir, rel);
    const previous = this.files.get(rel);
    let signature: string;
    let content: string;
    try {
      const info = known ?? (await stat(file));
      if (!info.isFile()) {
        if (previous) this.forget(rel, touched, result);
        return;
      }
      signature = signatureOf(info);
      if (previous && skipUnchanged && previous.signature === signature) return;
      if (info.size > this.maxFileBytes) {
        // Not read at all: a huge file must not cost memory or parse time. Its last good objects stay.
        const text = `file is ${mebibytes(info.size)} (${info.size} bytes), over the ${mebibytes(this.maxFileBytes)} limit for one manifest file; split it into smaller files`;
        const problem: ManifestError = { file, line: 1, type: 'unreadable', message: located(file, 1, undefined, text) };
        this.store(rel, { signature, contentHash: '', objects: previous?.objects ?? [], problems: [problem] }, touched, result);
        return;
      }
      content = info.size <= SYNC_READ_BYTES ? readFileSync(file, 'utf8') : await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        if (previous) this.forget(rel, touched, result);
        return;
      }
      this.readFailed(rel, error, touched, result);
      return;
    }
    const contentHash = createHash('sha256').update(content).digest('hex');
    if (previous && previous.contentHash === contentHash) {
      previous.signature = signature;
      return;
    }
    const parsed = parseManifests(content, file);
    const syntaxErrors = parsed.errors.filter((e) => e.type === 'syntax');
    if (syntaxErrors.length > 0) {
      // Serve the last version that parsed until the file is fixed.
      this.store(rel, { signature, contentHash, objects: previous?.objects ?? [], problems: syntaxErrors }, touched, result);
      return;
    }
    const objects = parsed.objects.map(({ object, origin }) => {
      const event = toSourceEvent(object, origin) as FileObject['event'];
      return { key: refKey(event.ref), event, fingerprint: fingerprintOf(event) };
    });
    this.store(rel, { signature, contentHash, objects, problems: parsed.errors }, touched, result);
  }

  private store(rel: string, entry: FileEntry, touched: Set<string>, result: UpdateResult): void {
    const previous = this.files.get(rel);
    this.files.set(rel, entry);
    if (previous?.objects !== entry.objects) this.setObjects(rel, previous?.objects ?? [], entry.objects, touched);
    if (JSON.stringify(previous?.problems ?? []) !== JSON.stringify(entry.problems)) {
      result.reportChanged = true;
      this.problemList = undefined;
    }
  }

  /** Moves a file's claim on object keys from its old objects to its new ones. */
  private setObjects(rel: string, before: FileObject[], after: FileObject[], touched: Set<string>): void {
    for (const { key } of before) {
      touched.add(key);
      const owners = this.owners.get(key);
      owners?.delete(rel);
      if (owners?.size === 0) this.owners.delete(key);
    }
    for (const { key } of after) {
      touched.add(key);
      let owners = this.owners.get(key);
      if (!owners) this.owners.set(key, (owners = new Set()));
      owners.add(rel);
    }
  }

  /** The touched objects' served versions (first definition in path order wins) against what was emitted. */
  private diff(touched: Set<string>, result: UpdateResult): SourceEvent[] {
    const upserts: SourceEvent[] = [];
    const deletes: SourceEvent[] = [];
    for (const key of touched) {
      const definitions: FileObject[] = [];
      for (const rel of [...(this.owners.get(key) ?? [])].sort(byPath)) {
        for (const object of this.files.get(rel)!.objects) if (object.key === key) definitions.push(object);
      }
      const served = definitions[0];
      this.setDuplicates(key, definitions, result);
      const origin = served?.event.origin;
      const before = this.servedOrigins.get(key);
      if (before?.file !== origin?.file || before?.line !== origin?.line) result.reportChanged = true;
      if (origin) this.servedOrigins.set(key, origin);
      else this.servedOrigins.delete(key);

      const emitted = this.emitted.get(key);
      if (served) {
        if (emitted?.fingerprint !== served.fingerprint) upserts.push(served.event);
        this.emitted.set(key, { ref: served.event.ref, fingerprint: served.fingerprint });
      } else if (emitted) {
        deletes.push({ type: 'delete', ref: emitted.ref });
        this.emitted.delete(key);
      }
    }
    return [...upserts, ...deletes];
  }

  private setDuplicates(key: string, definitions: FileObject[], result: UpdateResult): void {
    const [first, ...others] = definitions;
    const duplicates: ManifestError[] = others.map((fileObject) => {
      const origin = fileObject.event.origin ?? {};
      const firstOrigin = first!.event.origin ?? {};
      const file = origin.file ?? this.dir;
      const ref = fileObject.event.ref;
      return {
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
      };
    });
    const before = this.duplicates.get(key) ?? [];
    if (before.length === 0 && duplicates.length === 0) return;
    if (JSON.stringify(before) !== JSON.stringify(duplicates)) {
      result.reportChanged = true;
      this.problemList = undefined;
    }
    if (duplicates.length > 0) this.duplicates.set(key, duplicates);
    else this.duplicates.delete(key);
  }
}

function signatureOf(info: { ino: number; size: number; mtimeMs: number }): string {
  return `${info.ino}:${info.size}:${info.mtimeMs}`;
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
  const { events } = await folder.loadAll();
  return { events, problems: folder.problems() };
}

/** The safety rescan's period while file events arrive; without them the rescan is all there is. */
const WATCHED_RESCAN_MS = 60_000;
const UNWATCHED_RESCAN_MS = 2000;
/** In-place writes settle at most this long, however often the file keeps changing. */
const MAX_SETTLE_MS = 250;

export class FilesSource implements Source {
  private readonly folder: ManifestFolder;
  private readonly settleMs: number;
  private readonly rescanIntervalMs: number | undefined;
  private readonly useWatch: boolean;
  private sink: EventSink | undefined;
  /** One watcher per folder (relative path; '' is the root): each names the entries that changed in it. */
  private readonly watchers = new Map<string, FSWatcher>();
  private watchFailed = false;
  private rescanTimer: NodeJS.Timeout | undefined;
  /** Paths to read on the next turn of the event loop (created, renamed or deleted entries). */
  private readonly now = new Set<string>();
  private nowScheduled: NodeJS.Immediate | undefined;
  /** Files found empty mid-write whose objects were kept: their next read applies what it finds. */
  private readonly keptEmpty = new Set<string>();
  /** Paths written in place, read once they have been quiet for `settleMs`. */
  private readonly settling = new Set<string>();
  private settleTimer: NodeJS.Timeout | undefined;
  private settleStartedAt = 0;
  /** Updates run one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly problemListeners: Array<() => void> = [];
  private lastScanError: string | undefined;

  constructor(
    readonly dir: string,
    options: FilesSourceOptions = {},
  ) {
    this.folder = new ManifestFolder(dir, options.maxFileBytes);
    this.settleMs = options.debounceMs ?? 20;
    this.rescanIntervalMs = options.rescanIntervalMs;
    this.useWatch = options.watch ?? true;
  }

  async start(sink: EventSink): Promise<void> {
    if (this.sink) throw new Error('FilesSource already started');
    await assertDirectory(this.dir);
    this.sink = sink;
    const { events, dirs } = await this.folder.loadAll();
    log.info('manifest folder loaded', { dir: this.dir, objects: events.length, problems: this.folder.problems().length });
    // Delivered even when empty: the consumer learns that the initial state is complete.
    sink(events);
    if (this.stopped) return;
    if (this.useWatch) for (const rel of ['', ...dirs]) this.watchFolder(rel);
    else this.watchFailed = true;
    this.scheduleRescan();
  }

  /** Compares every file with what was read (stats; only changed files are read); resolves when
   * the resulting events have been delivered. */
  rescan(): Promise<void> {
    return this.safetyRescan();
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

  /** Calls `listener` after an update that changed `problems()` or where objects are written, with
   * no object changed (a fixed syntax error, a line added above an object). */
  onProblemsChanged(listener: () => void): void {
    this.problemListeners.push(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    if (this.nowScheduled) clearImmediate(this.nowScheduled);
    clearTimeout(this.settleTimer);
    clearTimeout(this.rescanTimer);
    await this.queue;
  }

  /** The rare safety net for what file events missed (an overflowing event queue, a file system
   * without events): every file's size, mtime and inode compared, only the changed ones read. It
   * runs beside the push path: the stats are not queued, only the reads of what differs are. */
  private scheduleRescan(): void {
    const interval = this.rescanIntervalMs ?? (this.watchFailed ? UNWATCHED_RESCAN_MS : WATCHED_RESCAN_MS);
    if (interval <= 0 || this.stopped) return;
    this.rescanTimer = setTimeout(() => {
      void this.safetyRescan().finally(() => this.scheduleRescan());
    }, interval);
    this.rescanTimer.unref();
  }

  private async safetyRescan(): Promise<void> {
    if (this.stopped || !this.sink) return;
    let changed: string[];
    try {
      changed = await this.folder.changedOnDisk();
    } catch (error) {
      this.scanFailed(error);
      return;
    }
    // Read again even when a file's signature looks unchanged by the time its turn comes.
    await this.enqueueUpdate(changed);
  }

  private watchFolder(rel: string): void {
    if (this.watchers.has(rel) || this.stopped) return;
    try {
      const watcher = watch(path.join(this.dir, rel), { persistent: false }, (event, name) => this.onFileEvent(rel, event, name));
      watcher.on('error', (error) => {
        watcher.close();
        this.watchers.delete(rel);
        if (rel !== '') return; // a subfolder that went away: its parent's event says so
        log.warn('manifest folder watch failed; relying on periodic rescans', { dir: this.dir, error: error.message });
        this.fallBackToRescans();
      });
      this.watchers.set(rel, watcher);
    } catch (error) {
      if (rel !== '') return; // gone before it could be watched: its parent's event says so
      log.warn('cannot watch manifest folder; relying on periodic rescans', { dir: this.dir, error: (error as Error).message });
      this.fallBackToRescans();
    }
  }

  private fallBackToRescans(): void {
    this.watchFailed = true;
    if (this.rescanIntervalMs !== undefined) return;
    clearTimeout(this.rescanTimer);
    this.scheduleRescan();
  }

  private unwatchUnder(rel: string): void {
    for (const [watched, watcher] of this.watchers) {
      if (watched === rel || watched.startsWith(rel + path.sep)) {
        watcher.close();
        this.watchers.delete(watched);
      }
    }
  }

  /**
   * A folder's watcher names the entry that changed. A created, renamed or deleted entry is read
   * on the next turn of the event loop: a file renamed into place (how editors and `kubectl cp`
   * replace files atomically) is complete when it appears. A file written in place settles for
   * `settleMs` first, so a write in several parts is read once, whole.
   */
  private onFileEvent(folder: string, event: string, name: string | Buffer | null): void {
    if (this.stopped) return;
    if (name === null) {
      // The platform did not say what changed.
      void this.safetyRescan();
      return;
    }
    const entry = name.toString();
    if (entry.startsWith('..')) {
      // A mounted ConfigMap swapped its `..data` link: every file behind it may have changed.
      void this.safetyRescan();
      return;
    }
    if (entry.startsWith('.')) return;
    markPush('source');
    const rel = folder === '' ? entry : path.join(folder, entry);
    if (event === 'rename') {
      this.now.add(rel);
      this.nowScheduled ??= setImmediate(() => {
        this.nowScheduled = undefined;
        const paths = [...this.now];
        this.now.clear();
        void this.enqueueUpdate(paths);
      });
      return;
    }
    this.settle(rel);
  }

  /** Reads a file written in place once it has been quiet for `settleMs`. */
  private settle(rel: string): void {
    this.settling.add(rel);
    const now = performance.now();
    if (this.settleTimer === undefined) this.settleStartedAt = now;
    clearTimeout(this.settleTimer);
    const wait = Math.max(0, Math.min(this.settleMs, this.settleStartedAt + MAX_SETTLE_MS - now));
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      const paths = [...this.settling];
      this.settling.clear();
      void this.enqueueUpdate(paths, true);
    }, wait);
  }

  /**
   * `inPlace`: the paths were written in place. One found empty that held objects is most likely
   * truncated by a write still going on (an editor saving): its objects stay, and it is read once
   * more after settling; what that second read finds is applied, empty or not.
   */
  private enqueueUpdate(paths: string[], inPlace = false): Promise<void> {
    this.queue = this.queue.then(async () => {
      if (this.stopped || !this.sink || paths.length === 0) return;
      const keepIfEmpty = new Set(inPlace ? paths.filter((rel) => !this.keptEmpty.has(rel)) : []);
      for (const rel of paths) this.keptEmpty.delete(rel);
      try {
        const { events, newDirs, goneDirs, reportChanged, keptEmpty } = await this.folder.update(paths, false, keepIfEmpty);
        for (const rel of keptEmpty) {
          this.keptEmpty.add(rel);
          this.settle(rel);
        }
        for (const rel of goneDirs) this.unwatchUnder(rel);
        if (!this.watchFailed) for (const rel of newDirs) this.watchFolder(rel);
        if (events.length > 0) {
          log.info('manifest folder changed', { dir: this.dir, events: events.length });
          markPush('delivered');
          this.sink(events);
        }
        // After the events: the pipeline analyses them at its next flush; this covers the rest.
        if (reportChanged && events.length === 0) for (const listener of this.problemListeners) listener();
        this.lastScanError = undefined;
      } catch (error) {
        this.scanFailed(error);
      }
    });
    return this.queue;
  }

  private scanFailed(error: unknown): void {
    // Logged once per distinct failure: the periodic rescan would repeat it every interval.
    const message = (error as Error).message;
    if (message !== this.lastScanError) log.error('manifest folder scan failed', { dir: this.dir, error: message });
    this.lastScanError = message;
  }
}
