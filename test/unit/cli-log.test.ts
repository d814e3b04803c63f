// Logs: text with the message first for a person at a terminal, JSON for everything else.
import { describe, expect, it } from '@jest/globals';
import winston from 'winston';
import { defaultLogFormat, formatFor, log } from '../../src/log.js';

const MESSAGE = Symbol.for('message');

function line(format: 'json' | 'text', message: string, fields: Record<string, unknown>): string {
  const info = formatFor(format).transform({ level: 'info', message, ...fields }) as Record<string | symbol, unknown>;
  return String(info[MESSAGE]);
}

describe('log format', () => {
  it('is text when standard error is a terminal, JSON otherwise', () => {
    expect(defaultLogFormat(true)).toBe('text');
    expect(defaultLogFormat(false)).toBe('json');
  });

  it('text starts with the message, then the fields, then level and time', () => {
    const text = line('text', 'switchyard serving a folder', { manifests: 'examples', xdsPort: 18000, note: 'two words' });
    expect(text).toMatch(
      /^switchyard serving a folder manifests=examples xdsPort=18000 note="two words" {2}\[info \d\d:\d\d:\d\d\.\d{3}\]$/,
    );
  });

  it('JSON is one object per line with the message, level, time and fields', () => {
    const parsed = JSON.parse(line('json', 'pushed', { node: 'n1' })) as Record<string, unknown>;
    expect(parsed).toMatchObject({ message: 'pushed', level: 'info', node: 'n1' });
    expect(typeof parsed.timestamp).toBe('string');
  });

  it('a level that is off is not formatted at all', () => {
    const formatted: string[] = [];
    const counting = winston.format((info) => {
      formatted.push(String(info.message));
      return false; // nothing reaches the transports
    })();
    const previous = { level: log.level, format: log.format };
    log.level = 'info';
    log.format = counting;
    try {
      log.debug('off', { n: 1 });
      log.info('on', { n: 2 });
      log.level = 'debug';
      log.debug('on now', { n: 3 });
    } finally {
      log.level = previous.level;
      log.format = previous.format;
    }
    expect(formatted).toEqual(['on', 'on now']);
  });
});
