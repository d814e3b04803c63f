// When the pipeline flushes: an isolated change at once, a burst coalesced (quiet period with a
// hard maximum). Driven with Jest's fake clock, so the test reads time without waiting for it.
import { jest } from '@jest/globals';
import { Debouncer } from '../../src/pipeline/debounce.js';

describe('Debouncer', () => {
  let flushedAt: number[];
  let debouncer: Debouncer;
  const now = () => performance.now();

  beforeEach(() => {
    jest.useFakeTimers();
    flushedAt = [];
    debouncer = new Debouncer({ quietMs: 20, maxMs: 250 }, () => flushedAt.push(now()));
  });

  afterEach(() => {
    debouncer.cancel();
    jest.useRealTimers();
  });

  it('flushes an isolated change on the next turn, without waiting for the quiet period', () => {
    const start = now();
    debouncer.poke();
    debouncer.poke(); // delivered together: flushed together
    expect(flushedAt).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(flushedAt).toHaveLength(1);
    expect(flushedAt[0] - start).toBeLessThan(20);
  });

  it('coalesces what follows a flush closely until it has been quiet for quietMs', () => {
    debouncer.poke();
    jest.advanceTimersByTime(1);
    expect(flushedAt).toHaveLength(1);
    // A burst: an event every 5 ms for 100 ms.
    for (let i = 0; i < 20; i++) {
      debouncer.poke();
      jest.advanceTimersByTime(5);
    }
    expect(flushedAt).toHaveLength(1);
    const lastPoke = now() - 5;
    jest.advanceTimersByTime(20);
    expect(flushedAt).toHaveLength(2);
    expect(flushedAt[1] - lastPoke).toBeGreaterThanOrEqual(20);
  });

  it('never holds a steady stream longer than maxMs', () => {
    debouncer.poke();
    jest.advanceTimersByTime(1);
    const burstStart = now();
    for (let i = 0; i < 100; i++) {
      debouncer.poke();
      jest.advanceTimersByTime(10);
    }
    // 1,000 ms of events 10 ms apart: the quiet period never comes, the deadline does.
    expect(flushedAt.length).toBeGreaterThanOrEqual(4);
    expect(flushedAt[1] - burstStart).toBeLessThanOrEqual(250);
  });

  it('treats a change after a quiet spell as isolated again', () => {
    debouncer.poke();
    jest.advanceTimersByTime(1);
    jest.advanceTimersByTime(50);
    const start = now();
    debouncer.poke();
    jest.advanceTimersByTime(1);
    expect(flushedAt).toHaveLength(2);
    expect(flushedAt[1] - start).toBeLessThan(20);
  });

  it('fireNow flushes what is pending, and nothing when nothing is', () => {
    debouncer.fireNow();
    expect(flushedAt).toHaveLength(0);
    debouncer.poke();
    debouncer.fireNow();
    expect(flushedAt).toHaveLength(1);
    jest.advanceTimersByTime(300);
    expect(flushedAt).toHaveLength(1);
  });
});
