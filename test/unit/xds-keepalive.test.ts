import * as http2 from 'node:http2';
import { ResourceCache } from '../../src/cache/cache.js';
import { XdsServer } from '../../src/xds/server.js';

const INTERVAL_MS = 400;
const CONNECTIONS = 20;

/** Connects `count` clients at once; resolves with, per client, when it received each of its first `pings` pings (ms after connecting). */
async function pingTimes(port: number, count: number, pings: number): Promise<number[][]> {
  const started = performance.now();
  const sessions = Array.from({ length: count }, () => http2.connect(`http://127.0.0.1:${port}`));
  try {
    return await Promise.all(
      sessions.map(
        (session) =>
          new Promise<number[]>((resolve, reject) => {
            const times: number[] = [];
            session.on('error', reject);
            session.on('ping', () => {
              times.push(performance.now() - started);
              if (times.length === pings) resolve(times);
            });
          }),
      ),
    );
  } finally {
    for (const session of sessions) session.close();
  }
}

describe('keepalive', () => {
  it('spreads the pings of connections made at once over the interval, and keeps pinging', async () => {
    const server = new XdsServer({ cache: new ResourceCache(), limits: { keepaliveTimeMs: INTERVAL_MS, keepaliveTimeoutMs: 5000 } });
    const port = await server.start(0);
    try {
      const times = await pingTimes(port, CONNECTIONS, 2);
      const firsts = times.map(([first]) => first);
      // Each first ping somewhere in [0.5, 1.5) intervals (with slack for a busy machine)...
      for (const first of firsts) {
        expect(first).toBeGreaterThanOrEqual(0.5 * INTERVAL_MS - 20);
        expect(first).toBeLessThan(1.5 * INTERVAL_MS + 500);
      }
      // ...and not all at the same moment: 20 points drawn evenly from an interval spread over
      // more than a quarter of it, but for a chance of about 1 in 10^10.
      expect(Math.max(...firsts) - Math.min(...firsts)).toBeGreaterThan(INTERVAL_MS / 4);
      // The next ping comes an interval after the answer to the one before.
      for (const [first, second] of times) expect(second - first).toBeGreaterThanOrEqual(INTERVAL_MS - 20);
    } finally {
      await server.shutdown();
    }
  });
});
