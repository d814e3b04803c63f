// A server process the bench runner starts and drives over IPC (Switchyard or the floor),
// so the server never shares an event loop or a heap with the load generator.
import { fork, type ChildProcess } from 'node:child_process';

/** BENCH_CPU_PROF=<dir> writes a CPU profile of the server under test there (node --cpu-prof);
 * BENCH_NODE_ARGS adds node / V8 flags to it (say `--trace-gc`). */
export function profileArgs(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  return [...(dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), ...extra];
}
import { fileURLToPath } from 'node:url';
import { dockerfileAllocatorEnv } from './allocator.js';

export interface ChildReply {
  type: string;
  [field: string]: unknown;
}

export class ServerChild {
  readonly process: ChildProcess;
  private readonly waiters: Array<{ type: string; resolve: (m: ChildReply) => void; reject: (e: Error) => void }> = [];
  private exited: Error | undefined;

  constructor(
    script: URL,
    readonly label: string,
  ) {
    // --expose-gc: heap figures are taken after a full collection. Switchyard logs warnings and
    // errors only (SWITCHYARD_LOG_LEVEL overrides), so the figures are not about log lines.
    const env = {
      ...process.env,
      SWITCHYARD_LOG_LEVEL: process.env.SWITCHYARD_LOG_LEVEL ?? 'warn',
      ...dockerfileAllocatorEnv(),
    };
    this.process = fork(fileURLToPath(script), [], {
      serialization: 'advanced',
      execArgv: ['--expose-gc', ...profileArgs()],
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.process.on('message', (message: ChildReply) => {
      if (message.type === 'error') {
        const waiter = this.waiters.shift();
        const error = new Error(`${label}: ${String(message.message)}`);
        if (waiter) waiter.reject(error);
        else process.stderr.write(`${error.message}\n`);
        return;
      }
      const i = this.waiters.findIndex((w) => w.type === message.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(message);
    });
    this.process.on('exit', (code, signal) => {
      this.exited = new Error(`${label} exited (code ${code}, signal ${signal})`);
      for (const waiter of this.waiters.splice(0)) waiter.reject(this.exited);
    });
  }

  get pid(): number {
    return this.process.pid!;
  }

  next(type: string): Promise<ChildReply> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.waiters.push({ type, resolve, reject }));
  }

  request(command: object, replyType: string): Promise<ChildReply> {
    const reply = this.next(replyType);
    this.process.send(command);
    return reply;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.process.send({ cmd: 'stop' });
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
