// The soak scenario: Switchyard in its own process under steady endpoint churn (--rate events
// per second for --duration-s seconds) with --clients streams connected. It prints the
// server's RSS over time (is it flat?) and, at the end, whether every stream still holds
// the final state. Not part of CI:
//   npm run bench -- soak                                   (10 minutes, 50 events/s, 1,000 streams)
//   npm run bench -- soak --duration-s 60 --clients 200     (a short run)
import { ServerChild } from '../child.js';
import { AdsClient, nowMs, SharedState } from '../loadgen/client.js';
import { LoadGenerator } from '../loadgen/index.js';
import { CLA_TYPE } from '../loadgen/xds-messages.js';
import { Mesh } from '../mesh.js';
import { cpuSeconds, rssBytes } from '../proc.js';
import type { Flags } from '../flags.js';
import type { Row } from '../report.js';
import { readyAddresses } from '../resources.js';
import { switchyardAvailable } from '../target.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

interface RssSample {
  atS: number;
  rss: number;
  eventsSent: number;
}

/** One delta client in the runner that keeps every resource's bytes: the reference for the final check. */
function startRecorder(target: string, timeoutMs: number): Promise<AdsClient> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`soak recorder: no complete configuration from ${target} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const recorder = new AdsClient({
      index: -1,
      delta: true,
      target,
      shared: new SharedState(),
      record: true,
      onSynced: (client) => {
        clearTimeout(timer);
        resolve(client);
      },
      onError: (_client, error) => {
        clearTimeout(timer);
        reject(new Error(`soak recorder: ${error.message}`));
      },
    });
    recorder.start();
  });
}

export async function runSoak(flags: Flags, log: (line: string) => void): Promise<{ rows: Row[]; figures: object }> {
  if (flags.target) throw new Error('soak starts its own Switchyard (it reads the server RSS); --target is not supported');
  if (!switchyardAvailable()) throw new Error('dist/src/app.js is missing: build first (npx tsc -p .)');
  const durationS = flags.durationS ?? 600;
  const rate = flags.rate ?? 50;
  const mesh = new Mesh({ services: flags.services, endpointsPerService: flags.endpoints, seed: flags.seed });
  const child = new ServerChild(new URL('../target.js', import.meta.url), 'switchyard');
  let loadgen: LoadGenerator | undefined;
  let recorder: AdsClient | undefined;
  try {
    await child.next('ready');
    const listening = await child.request(
      {
        cmd: 'start',
        host: '127.0.0.1',
        port: 0,
        mesh: { services: flags.services, endpointsPerService: flags.endpoints, seed: flags.seed },
      },
      'listening',
    );
    const address = `127.0.0.1:${listening.port as number}`;
    const pid = child.pid!;
    recorder = await startRecorder(address, flags.syncTimeoutMs);
    loadgen = await LoadGenerator.start({
      target: address,
      clients: flags.clients,
      deltaShare: flags.deltaShare,
      workers: flags.workers,
      hashAll: true,
    });
    const sync = await loadgen.waitSynced(flags.syncTimeoutMs);
    log(`soak: ${sync.synced}/${sync.clients} streams synced; churning ${rate} events/s for ${durationS} s`);

    const samples: RssSample[] = [];
    const cpuBefore = cpuSeconds(pid);
    const startedAt = nowMs();
    const sampleEveryS = Math.max(5, Math.round(durationS / 20));
    let nextSampleS = 0;
    let sent = 0;
    // Events go out in 100 ms ticks, each tick catching up to where the rate says it should be.
    while (nowMs() - startedAt < durationS * 1000) {
      const elapsedS = (nowMs() - startedAt) / 1000;
      const due = Math.floor(elapsedS * rate);
      const changes = [];
      while (sent < due) {
        changes.push(mesh.endpointChange().event);
        sent++;
      }
      if (changes.length > 0) await child.request({ cmd: 'apply', events: changes }, 'applied');
      if (elapsedS >= nextSampleS) {
        const sample = { atS: Math.round(elapsedS), rss: rssBytes(pid), eventsSent: sent };
        samples.push(sample);
        log(`soak: t=${String(sample.atS).padStart(4)} s  RSS ${mb(sample.rss).padStart(9)}  events ${sent}`);
        nextSampleS += sampleEveryS;
      }
      await sleep(100);
    }
    const churnEnd = nowMs();
    const cpuAfter = cpuSeconds(pid);

    // Settled: the recorder matches the mesh (or 60 s passed); then every stream must match the recorder.
    const claMap = (): Map<string, { bytes: Buffer; hash: number }> => recorder!.recorded.get(CLA_TYPE) ?? new Map();
    const wrongAtRecorder = (): string[] => {
      const wrong: string[] = [];
      for (const service of mesh.services) {
        const expected = (service.slice.endpoints ?? [])
          .filter((e) => e.conditions?.ready !== false)
          .map((e) => e.addresses[0]!)
          .sort();
        const held = claMap().get(service.clusterName);
        if (!held || readyAddresses(held.bytes).join(',') !== expected.join(',')) wrong.push(service.clusterName);
      }
      return wrong;
    };
    let wrong = wrongAtRecorder();
    while (wrong.length > 0 && nowMs() - churnEnd < 60_000) {
      await sleep(250);
      wrong = wrongAtRecorder();
    }
    let hashReport = await loadgen.checkHashes(CLA_TYPE, new Map([...claMap()].map(([name, r]) => [name, r.hash])));
    while (hashReport.mismatched > 0 && nowMs() - churnEnd < 60_000) {
      await sleep(500);
      hashReport = await loadgen.checkHashes(CLA_TYPE, new Map([...claMap()].map(([name, r]) => [name, r.hash])));
    }
    const finalRss = rssBytes(pid);
    samples.push({ atS: Math.round((nowMs() - startedAt) / 1000), rss: finalRss, eventsSent: sent });
    const statuses = await loadgen.status();
    const streamErrors = statuses.reduce((n, s) => n + (s.failed ?? 0), 0);

    // Flat or growing: the second half's mean against the first half's (the first sample is the synced baseline).
    const half = Math.max(1, Math.floor(samples.length / 2));
    const mean = (list: RssSample[]): number => list.reduce((n, s) => n + s.rss, 0) / Math.max(1, list.length);
    const firstHalf = mean(samples.slice(0, half));
    const secondHalf = mean(samples.slice(half));
    const growth = (secondHalf - firstHalf) / firstHalf;
    log(`soak: ${sent} events; RSS ${mb(samples[0]!.rss)} -> ${mb(finalRss)} (second half vs first half ${(growth * 100).toFixed(1)}%)`);
    const rows: Row[] = [
      { figure: 'streams synced at the start', value: `${sync.synced}/${sync.clients}` },
      { figure: `events sent (${rate}/s for ${durationS} s)`, value: String(sent) },
      { figure: 'server RSS over time', value: samples.map((s) => `${s.atS}s:${(s.rss / 1024 / 1024).toFixed(0)}`).join(' ') + ' (MB)' },
      { figure: 'RSS, mean of second half vs first half', value: `${(growth * 100).toFixed(1)}%`, target: 'flat (a few %)' },
      { figure: 'server CPU during churn', value: `${(cpuAfter - cpuBefore).toFixed(1)} s` },
      {
        figure: 'services wrong at the reference client',
        value: `${wrong.length} of ${mesh.services.length}${wrong.length ? `: ${wrong[0]}` : ''}`,
        target: '0',
      },
      {
        figure: 'streams not on the final state',
        value: `${hashReport.mismatched} of ${hashReport.checked}${hashReport.examples.length ? `: ${hashReport.examples[0]}` : ''}`,
        target: '0',
      },
      { figure: 'streams failed', value: String(streamErrors), target: '0' },
    ];
    return {
      rows,
      figures: { durationS, rate, sent, samples, growth, wrongAtRecorder: wrong.length, hashReport, sync: { ...sync, syncMs: undefined } },
    };
  } finally {
    recorder?.stop();
    await loadgen?.stop();
    await child.stop();
  }
}
