// Switchyard as users run it: the built CLI (`switchyard serve`, dist/src/cli/main.js) in its own
// process, reading a generated folder of manifests (one file per Service and per EndpointSlice,
// one subfolder per namespace) or the test Kubernetes API server (started in the runner, over
// its real list/watch HTTP). An endpoint change is then what a user does: an atomic rename of
// one EndpointSlice file, or a PUT of the EndpointSlice through the API.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { KubeObject } from '../src/sources/types.js';
import { KubeApiServer } from '../test/support/kube-api-server.js';
import { dockerfileAllocatorEnv } from './allocator.js';
import { profileArgs } from './child.js';
import type { Flags } from './flags.js';
import type { EndpointChange, Mesh } from './mesh.js';
import type { Server } from './servers.js';

export type ServeSource = 'folder' | 'kube';

const CLI = new URL('../src/cli/main.js', import.meta.url);

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls the admin server's /readyz until Switchyard has served its first snapshot. */
async function waitReady(adminPort: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`switchyard serve exited with code ${child.exitCode} before it was ready`);
    try {
      const response = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`switchyard serve not ready within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const sliceFile = (dir: string, s: Mesh['services'][number]): string => path.join(dir, s.namespace, `${s.slice.metadata.name}.yaml`);

/** Without the runner-side resourceVersion: the folder has none, and the API server keeps its own. */
function asWritten<T extends KubeObject>(object: T): T {
  const { resourceVersion: _rv, ...metadata } = object.metadata as T['metadata'] & { resourceVersion?: string };
  return { ...object, metadata } as T;
}

/** Writes the mesh as a folder: per namespace a subfolder, per Service its Service file and its EndpointSlice file. */
export async function writeMeshFolder(mesh: Mesh, dir: string): Promise<number> {
  let files = 0;
  for (const s of mesh.services) {
    await mkdir(path.join(dir, s.namespace), { recursive: true });
    await writeFile(path.join(dir, s.namespace, `${s.name}.yaml`), stringify(asWritten(s.service)));
    await writeFile(sliceFile(dir, s), stringify(asWritten(s.slice)));
    files += 2;
    if (s.policy) {
      await writeFile(path.join(dir, s.namespace, `${s.policy.metadata.name}.yaml`), stringify(asWritten(s.policy)));
      files++;
    }
  }
  return files;
}

let renames = 0;

/** Starts `switchyard serve` on the mesh, through a folder or the test API server. */
export async function startServe(flags: Flags, mesh: Mesh, source: ServeSource, log: (line: string) => void): Promise<Server> {
  if (!existsSync(fileURLToPath(CLI))) throw new Error(`${fileURLToPath(CLI)} is missing: build first (npx tsc -p .)`);
  const work = await mkdtemp(path.join(os.tmpdir(), 'switchyard-bench-'));
  const [xdsPort, adminPort] = [await freePort(), await freePort()];
  const args = ['serve', '--xds-port', String(xdsPort), '--admin-port', String(adminPort), '--log-level', 'warn', '--log-format', 'json'];
  // BENCH_SERVE_ARGS adds `serve` flags (say `--keepalive-time-ms 300000`), to measure what a setting costs.
  args.push(...(process.env.BENCH_SERVE_ARGS ?? '').split(' ').filter((arg) => arg !== ''));
  let api: KubeApiServer | undefined;
  let prepareEndpointChange: (change: EndpointChange) => Promise<() => Promise<void>>;
  if (source === 'folder') {
    const dir = path.join(work, 'manifests');
    const files = await writeMeshFolder(mesh, dir);
    log(`folder: ${files} files in ${dir}`);
    args.push('--manifests', dir);
    prepareEndpointChange = async (change) => {
      // How editors and `kubectl cp` replace a file: a hidden temporary file renamed over it.
      const target = sliceFile(dir, change.service);
      const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${renames++}.tmp`);
      await writeFile(temporary, stringify(asWritten(change.service.slice)));
      return () => rename(temporary, target);
    };
  } else {
    // Bookmarks as often as a real API server sends them (about once a minute), not the tests' 1 s.
    api = new KubeApiServer({ bookmarkIntervalMs: 60_000 });
    await api.start();
    for (const event of mesh.initialEvents()) if (event.type === 'upsert') api.apply(asWritten(event.object));
    const kubeconfig = path.join(work, 'kubeconfig');
    await writeFile(kubeconfig, api.kubeConfigYaml('switchyard'));
    log(`kube: test API server at ${api.url} with ${mesh.initialEvents().length} objects`);
    args.push('--kubernetes', '--kubeconfig', kubeconfig);
    const url = api.url;
    prepareEndpointChange = async (change) => {
      const slice = asWritten(change.service.slice);
      const { namespace, name } = slice.metadata;
      const body = JSON.stringify(slice);
      return async () => {
        const response = await fetch(`${url}/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices/${name}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
          body,
        });
        if (!response.ok) throw new Error(`PUT EndpointSlice ${namespace}/${name}: HTTP ${response.status} ${await response.text()}`);
      };
    };
  }
  const child = spawn(process.execPath, [...profileArgs(), fileURLToPath(CLI), ...args], {
    env: { ...process.env, ...dockerfileAllocatorEnv() },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await api?.stop();
    await rm(work, { recursive: true, force: true });
  };
  try {
    await waitReady(adminPort, child, flags.syncTimeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }
  return { kind: 'switchyard', address: `127.0.0.1:${xdsPort}`, pid: child.pid, prepareEndpointChange, stop };
}
