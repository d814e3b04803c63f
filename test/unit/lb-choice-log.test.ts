// The README says the load-balancing choice and its reason appear in the logs: the first
// snapshot as one summary line (each port at debug), then a line per Service port whenever its
// policy or reason changes.
import { Writable } from 'node:stream';
import winston from 'winston';
import { ResourceCache } from '../../src/cache/cache.js';
import { log } from '../../src/log.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import type { KubeObject, SourceEvent } from '../../src/sources/types.js';
import { endpointSlice, service, trafficPolicy, type JsonObject } from '../support/kube-api-server.js';

type Line = {
  message: string;
  level?: string;
  service?: string;
  port?: number;
  policy?: string;
  reason?: string;
  policies?: Record<string, number>;
};

function captureLog(during: () => void, level: 'info' | 'debug' = 'info'): Line[] {
  const lines: Line[] = [];
  const sink = new winston.transports.Stream({
    stream: new Writable({
      objectMode: true,
      write(chunk: unknown, _encoding, callback) {
        lines.push({ ...(chunk as Line) });
        callback();
      },
    }),
    format: winston.format.json(),
  });
  const previousLevel = log.level;
  const muted = log.transports.map((t) => t.silent);
  log.transports.forEach((t) => (t.silent = true));
  log.add(sink);
  log.level = level;
  try {
    during();
  } finally {
    log.remove(sink);
    log.level = previousLevel;
    log.transports.forEach((t, i) => (t.silent = muted[i]));
  }
  return lines.filter((line) => line.message.startsWith('load balancing chosen'));
}

function upsert(object: JsonObject): SourceEvent {
  return {
    type: 'upsert',
    ref: { kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name },
    object: object as KubeObject,
  } as SourceEvent;
}

const addresses = (count: number) => Array.from({ length: count }, (_, i) => `10.0.0.${i + 1}`);

describe('the load-balancing choice in the logs', () => {
  it('is summed up for the first snapshot, then logged per Service port only when the policy or its reason changes', () => {
    const pipeline = new Pipeline({ cache: new ResourceCache() });
    const flush = (...objects: JsonObject[]) =>
      captureLog(() => {
        pipeline.push(objects.map(upsert));
        pipeline.flushNow();
      });

    // The first snapshot: one summary line at info, each port's choice and reason at debug.
    const first = captureLog(() => {
      pipeline.push([service('reviews'), endpointSlice('reviews', addresses(3)), service('ratings')].map(upsert));
      pipeline.flushNow();
    }, 'debug');
    const summary = first.filter((l) => l.level === 'info');
    expect(summary).toHaveLength(1);
    expect(summary[0].policies).toEqual({ least_request: 2 });
    const perPort = first.filter((l) => l.level === 'debug');
    expect(perPort.map((l) => [l.service, l.port, l.policy])).toEqual([
      ['shop/ratings', 9080, 'least_request'],
      ['shop/reviews', 9080, 'least_request'],
    ]);
    expect(perPort[1].reason).toMatch(/^Auto \(no TrafficPolicy\): no hash keys requested/);

    // Same choice, same reason: nothing logged.
    expect(flush(endpointSlice('reviews', addresses(4)))).toEqual([]);

    // A policy asking for hashing: ring_hash below maglevMinEndpoints, then maglev at 8.
    const hashed = flush(trafficPolicy('reviews', 'reviews', { loadBalancer: { hashOn: [{ header: { name: 'x-user' } }] } }));
    expect(hashed.map((l) => [l.service, l.policy])).toEqual([['shop/reviews', 'ring_hash']]);
    expect(hashed[0].reason).toContain('TrafficPolicy shop/reviews');
    const grown = flush(endpointSlice('reviews', addresses(8)));
    expect(grown.map((l) => [l.service, l.policy])).toEqual([['shop/reviews', 'maglev']]);
    expect(grown[0].reason).toContain('8 endpoints >= maglevMinEndpoints 8');
  });
});
