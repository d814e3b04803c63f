// `npm run demo`: Switchyard serving examples/ to proxyless gRPC clients that call real backends,
// with a live table of where the calls went. Edit a file in examples/ (a split weight, an
// endpoint's `ready`, a policy) and the table follows within a few seconds.
//
//   node dist/demo/demo.js [manifest-folder]      (default: examples)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { startSwitchyard, type Switchyard } from '../src/app.js';
import { configureLog } from '../src/log.js';
import { FilesSource } from '../src/sources/files.js';
import { explainLbChoice } from '../src/translate/index.js';
import { isHttpPort } from '../src/translate/names.js';
import type { NackEvent } from '../src/xds/events.js';
import { BackendFleet, LoopbackSource, WHO_METHOD } from './loopback.js';

const REFRESH_MS = 2000;
/** Shares are computed over the calls of the last few seconds, so an edit shows soon. */
const WINDOW_MS = 6000;
const CALLS_PER_SECOND = 20;
/** What gRPC clients do with each LB policy Switchyard lists (the first one they know wins). */
const GRPC_KNOWS = new Set(['ring_hash', 'round_robin', 'pick_first']);

interface Target {
  serviceKey: string;
  port: number;
  client: grpc.Client;
  /** Recent outcomes: when, and which backend (or `error: ...`). */
  outcomes: Array<{ at: number; outcome: string }>;
  timer?: NodeJS.Timeout;
}

async function main(): Promise<void> {
  const manifestDir = path.resolve(process.argv[2] ?? 'examples');
  if (!process.env.SWITCHYARD_LOG_LEVEL) configureLog({ level: 'error', format: 'text' });

  const source = new LoopbackSource(new FilesSource(manifestDir));
  const switchyard = await startSwitchyard({ sources: [source], xdsPort: 0, adminPort: 0 });
  await switchyard.ready;

  // The proxyless clients read the same bootstrap a pod would: envoy/proxyless-bootstrap.json,
  // pointed at this Switchyard instead of the in-cluster Service.
  const bootstrap = JSON.parse(readFileSync(path.resolve('envoy', 'proxyless-bootstrap.json'), 'utf8')) as {
    xds_servers: Array<{ server_uri: string }>;
    node: { id: string };
  };
  bootstrap.xds_servers[0].server_uri = `127.0.0.1:${switchyard.xdsPort}`;
  bootstrap.node.id = 'switchyard-demo';
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify(bootstrap);
  grpcXds.register();

  const nacks: NackEvent[] = [];
  switchyard.server.on('nack', (event) => nacks.push(event));
  // A client library that throws from its own timers would end the demo; show it in the table instead.
  const clientErrors = new Map<string, number>();
  process.on('uncaughtException', (err) => {
    const where = err.stack?.split('\n').find((line) => line.includes('node_modules')) ?? '';
    const key = `${err.message} ${where.trim()}`;
    clientErrors.set(key, (clientErrors.get(key) ?? 0) + 1);
  });

  const fleet = new BackendFleet();
  const targets = new Map<string, Target>();
  const reconcile = () => syncWorld(switchyard, source, fleet, targets);
  reconcile();
  switchyard.pipeline.on('flushed', reconcile);

  const render = () => process.stdout.write(table(switchyard, fleet, targets, nacks, clientErrors, manifestDir));
  render();
  const renderTimer = setInterval(render, REFRESH_MS);

  const shutdown = async () => {
    clearInterval(renderTimer);
    for (const target of targets.values()) {
      clearInterval(target.timer);
      target.client.close();
    }
    fleet.stop();
    await switchyard.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

/** Backend label -> the Service it is shown under. */
const owners = new Map<string, string>();

/** Backends for every endpoint Switchyard knows, and a calling client for every HTTP Service port. */
function syncWorld(switchyard: Switchyard, source: LoopbackSource, fleet: BackendFleet, targets: Map<string, Target>): void {
  const model = switchyard.pipeline.model;
  const wanted = new Set<string>();
  for (const service of model.services()) {
    for (const port of service.ports) {
      if (!isHttpPort(port)) continue;
      for (const endpoint of model.endpoints(service.key, port)) {
        const original = source.originals.get(endpoint.address) ?? endpoint.address;
        const label = `${original}:${endpoint.port}`;
        fleet.ensure(endpoint.address, endpoint.port, label);
        // An address listed by several Services (reviews and reviews-v1) is shown with the most specific name.
        const owner = owners.get(label);
        if (!owner || service.name.length > owner.length) owners.set(label, service.name);
      }
      const key = `${service.key}:${port.port}`;
      wanted.add(key);
      if (!targets.has(key)) targets.set(key, startCalling(service.namespace, service.name, service.key, port.port, switchyard));
    }
  }
  for (const [key, target] of targets) {
    if (wanted.has(key)) continue;
    clearInterval(target.timer);
    target.client.close();
    targets.delete(key);
  }
}

/** A proxyless client that calls the Service steadily, with the headers its policy cares about. */
function startCalling(namespace: string, name: string, serviceKey: string, port: number, switchyard: Switchyard): Target {
  const client = new grpc.Client(`xds:///${name}.${namespace}.svc.cluster.local:${port}`, grpc.credentials.createInsecure());
  const target: Target = { serviceKey, port, client, outcomes: [] };
  let sequence = 0;
  target.timer = setInterval(() => {
    const metadata = new grpc.Metadata();
    for (const [header, value] of Object.entries(headersFor(switchyard, serviceKey, sequence++))) metadata.set(header, value);
    client.makeUnaryRequest(
      WHO_METHOD,
      (value: unknown) => Buffer.from(JSON.stringify(value)),
      (bytes: Buffer) => JSON.parse(bytes.toString('utf8')) as { backend: string },
      {},
      metadata,
      { deadline: Date.now() + 2000 },
      (err, reply) => {
        const outcome = err || !reply ? `error: ${grpc.status[err?.code ?? grpc.status.UNKNOWN] ?? err?.code}` : reply.backend;
        target.outcomes.push({ at: Date.now(), outcome });
      },
    );
  }, 1000 / CALLS_PER_SECOND);
  return target;
}

/** Hash headers get one of 20 user ids; a header route's header is sent on every fifth call. */
function headersFor(switchyard: Switchyard, serviceKey: string, sequence: number): Record<string, string> {
  const spec = switchyard.pipeline.model.effectivePolicy(serviceKey)?.spec;
  const headers: Record<string, string> = {};
  for (const entry of spec?.loadBalancer?.hashOn ?? []) if (entry.header) headers[entry.header.name] = `user-${sequence % 20}`;
  if (sequence % 5 === 0) {
    for (const route of spec?.routes ?? []) {
      for (const header of route.match.headers ?? []) headers[header.name] = header.exact ?? 'true';
    }
  }
  return headers;
}

function table(
  switchyard: Switchyard,
  fleet: BackendFleet,
  targets: Map<string, Target>,
  nacks: NackEvent[],
  clientErrors: ReadonlyMap<string, number>,
  manifestDir: string,
): string {
  const model = switchyard.pipeline.model;
  const now = Date.now();
  const lines: string[] = [];
  lines.push(
    `Switchyard demo — serving ${manifestDir}  (xDS 127.0.0.1:${switchyard.xdsPort}, admin http://127.0.0.1:${switchyard.adminPort}/debug/config_dump)`,
  );
  lines.push(
    `${fleet.size} backends on loopback (pod IP a.b.c.d runs at 127.b.c.d); ${targets.size} proxyless gRPC clients, ${CALLS_PER_SECOND} calls/s each; shares over the last ${WINDOW_MS / 1000}s.`,
  );
  lines.push("Edit a file in the folder above (a split weight, an endpoint's ready, a policy) and watch the table. Ctrl-C stops.");
  lines.push('');
  for (const target of [...targets.values()].sort((a, b) => `${a.serviceKey}:${a.port}`.localeCompare(`${b.serviceKey}:${b.port}`))) {
    target.outcomes = target.outcomes.filter((o) => now - o.at <= WINDOW_MS);
    const explanation = explainLbChoice(model, target.serviceKey, {}, target.port);
    const grpcPolicy = explanation?.policies.find((p) => GRPC_KNOWS.has(p)) ?? 'none gRPC knows';
    const served = explanation ? `${explanation.policies.join(' → ')}` : '?';
    const spec = model.effectivePolicy(target.serviceKey)?.spec;
    const split = spec?.split?.length ? `  split ${spec.split.map((s) => `${s.backend} ${s.weight}`).join(' / ')}` : '';
    const routes = spec?.routes?.length ? `  routes ${spec.routes.length}` : '';
    lines.push(`${target.serviceKey}:${target.port}   served ${served}  → gRPC uses ${grpcPolicy}${split}${routes}`);
    if (explanation) lines.push(`    why: ${explanation.reason}`);
    const counts = new Map<string, number>();
    for (const { outcome } of target.outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    const total = target.outcomes.length;
    if (total === 0) lines.push('    (no calls answered yet)');
    for (const [outcome, count] of [...counts.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const share = count / total;
      const name = owners.has(outcome) ? `${owners.get(outcome)} ${outcome}` : outcome;
      lines.push(`    ${name.padEnd(34)} ${(share * 100).toFixed(0).padStart(3)}%  ${'█'.repeat(Math.round(share * 40))}`);
    }
    lines.push('');
  }
  const problems = fleet.problems();
  if (problems.length) lines.push(`Backends that could not start: ${problems.join('; ')}`);
  if (nacks.length) {
    const last = nacks[nacks.length - 1];
    lines.push(`Clients rejected ${nacks.length} response(s) (NACK); last: ${last.typeUrl.split('.').pop()}: ${last.message}`);
  }
  for (const [error, count] of clientErrors) lines.push(`A client library threw ${count} time(s): ${error}`);
  const clear = process.stdout.isTTY ? '\x1b[2J\x1b[H' : '\n';
  return clear + lines.join('\n') + '\n';
}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
