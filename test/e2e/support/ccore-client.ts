// A second real xDS client: gRPC C-core, through Debian's python3-grpcio, as one long-lived Python
// process (test/e2e/ccore/client.py) per test file. C-core has one xDS client per process, read from
// GRPC_XDS_BOOTSTRAP, so the process is one node; it dials any number of xds:/// targets. Jest sends
// it batches of calls (each with its own metadata) and reads back which backend answered each.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Debian's interpreter, where python3-grpcio lives (a pyenv python3 earlier on PATH has no grpc). */
const SYSTEM_PYTHON = '/usr/bin/python3';
const CLIENT_SCRIPT = join(process.cwd(), 'test', 'e2e', 'ccore', 'client.py');
const INSTALL_HINT = "the C-core e2e tests need Debian's python3-grpcio: run `apt-get install -y python3-grpcio` (.ci/run installs it)";

/**
 * The bootstrap (gRFC A27) C-core 1.51 reads: one xDS server with insecure channel creds, and a node.
 * No `switchyard.dev/role` metadata: Switchyard must recognise C-core by its user agent
 * ("gRPC C-core ..."), as it would a user's application that sets none.
 */
function ccoreBootstrap(xdsPort: number, nodeId: string): Record<string, unknown> {
  return {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, cluster: 'e2e', locality: { zone: 'local' } },
  };
}

/** One call's outcome: the backend that answered, or the gRPC status code name (UNAVAILABLE, ...). */
type CallResult = { backend: string } | { code: string; details: string };

interface CallOptions {
  /** Calls in flight at once (1: one after another). */
  concurrency?: number;
  /** Per-call deadline, seconds. */
  timeoutSeconds?: number;
}

interface Pending {
  resolve: (line: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

export class CcoreClient {
  /** grpcio's version, as the process reported it at start. */
  grpcVersion = '';
  /** Set once the process has ended: how (exit code or signal), for failure messages. */
  exit: string | undefined;
  private readonly pending: Pending[] = [];
  private stderrTail = '';
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly nodeId: string,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly bootstrapDir: string,
  ) {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
      // For debugging: SWITCHYARD_E2E_CCORE_LOG=1 (with e.g. GRPC_TRACE=xds_client GRPC_VERBOSITY=DEBUG) shows C-core's log.
      if (process.env.SWITCHYARD_E2E_CCORE_LOG) process.stderr.write(chunk);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const waiting = this.pending.shift();
      if (!waiting) return;
      try {
        waiting.resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        waiting.reject(new Error(`C-core client printed a line that is not JSON: ${line}`));
      }
    });
    const died = (how: string) => {
      this.exit ??= how;
      rmSync(this.bootstrapDir, { recursive: true, force: true });
      for (const waiting of this.pending.splice(0)) waiting.reject(this.deathError());
    };
    // 'close', not 'exit': stderr has been read to its end by then.
    child.on('close', (code, signal) => died(signal ? `killed by ${signal}` : `exited with code ${code}`));
    child.on('error', (err) => died(`could not run: ${err.message}`));
  }

  /**
   * Starts the process with a bootstrap naming Switchyard on `xdsPort`, and waits until grpc is
   * imported. `bootstrap` may extend the bootstrap (certificate providers); `xdsCredentials` makes
   * its channels use xDS channel credentials (gRFC A29) instead of plain text.
   */
  static async start(
    xdsPort: number,
    nodeId: string,
    options: { bootstrap?: (bootstrap: Record<string, unknown>) => Record<string, unknown>; xdsCredentials?: boolean } = {},
  ): Promise<CcoreClient> {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-ccore-'));
    const bootstrapPath = join(dir, 'bootstrap.json');
    const bootstrap = ccoreBootstrap(xdsPort, nodeId);
    writeFileSync(bootstrapPath, JSON.stringify(options.bootstrap ? options.bootstrap(bootstrap) : bootstrap));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...(options.xdsCredentials ? { SWITCHYARD_CCORE_CREDENTIALS: 'xds' } : {}),
      GRPC_XDS_BOOTSTRAP: bootstrapPath,
      GRPC_VERBOSITY: process.env.GRPC_VERBOSITY ?? 'ERROR',
      // Between calls nothing in the Python process polls C-core's sockets but its backup poller
      // (every 5 s by default), so an idle client would read (and ACK) an xDS update seconds late.
      GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS: '100',
    };
    // The system interpreter must not pick up another Python's modules.
    delete env.PYTHONPATH;
    delete env.PYTHONHOME;
    const child = spawn(SYSTEM_PYTHON, ['-u', CLIENT_SCRIPT], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const client = new CcoreClient(nodeId, child, dir);
    let hello: Record<string, unknown>;
    try {
      hello = await client.nextLine();
    } catch (err) {
      const text = (err as Error).message;
      if (/No module named 'grpc'|ENOENT/.test(text)) throw new Error(`${INSTALL_HINT}; ${text}`, { cause: err });
      throw err;
    }
    client.grpcVersion = String(hello.grpc ?? '');
    return client;
  }

  /** One call per entry of `headersPerCall` (the metadata it carries), in order. */
  calls(
    target: string,
    headersPerCall: Array<Record<string, string>>,
    { concurrency = 16, timeoutSeconds = 5 }: CallOptions = {},
  ): Promise<CallResult[]> {
    const request = { target, calls: headersPerCall, concurrency, timeout: timeoutSeconds };
    // One request at a time: answers come back in order on one stdout.
    const run = this.queue.then(async () => {
      const answer = this.nextLine();
      this.child.stdin.write(`${JSON.stringify(request)}\n`);
      const line = await answer;
      if (typeof line.error === 'string') throw new Error(`C-core client rejected the request: ${line.error}`);
      return line.results as CallResult[];
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** `n` calls with the same metadata; counts by backend, failures as `error:<CODE>`. */
  async tally(target: string, n: number, headers: Record<string, string> = {}, options: CallOptions = {}): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const result of await this.calls(
      target,
      Array.from({ length: n }, () => headers),
      options,
    )) {
      const key = 'backend' in result ? result.backend : `error:${result.code}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  /** One call: the backend's name; throws with the status otherwise. */
  async who(target: string, headers: Record<string, string> = {}, timeoutSeconds = 1): Promise<string> {
    const [result] = await this.calls(target, [headers], { timeoutSeconds });
    if ('backend' in result) return result.backend;
    throw new Error(`${result.code}: ${result.details}`);
  }

  /** Ends stdin (the script's loop ends) and waits for the process; kills it after 3 s. */
  async close(): Promise<void> {
    if (this.exit !== undefined) return;
    const ended = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await ended;
    clearTimeout(timer);
  }

  private nextLine(): Promise<Record<string, unknown>> {
    if (this.exit !== undefined) return Promise.reject(this.deathError());
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  private deathError(): Error {
    return new Error(
      `the C-core client process (node ${this.nodeId}) ${this.exit}; its stderr ends with:\n${this.stderrTail.trim() || '(nothing)'}`,
    );
  }
}
