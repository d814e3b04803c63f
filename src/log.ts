// The one logger. JSON lines for log collectors, text for people at a terminal: by default
// text when standard error is a terminal and JSON otherwise (--log-format sets it). Callers
// pass fields, not concatenated prose: log.info('pushed', { node, typeUrl }).
import winston from 'winston';

export type LogFormat = 'json' | 'text';

/** text when standard error is a terminal (a person reads it), else json (a collector does). */
export function defaultLogFormat(stderrIsTerminal: boolean = process.stderr.isTTY === true): LogFormat {
  return stderrIsTerminal ? 'text' : 'json';
}

function textValue(value: unknown): string {
  if (typeof value === 'string' && value !== '' && !/[\s"=]/.test(value)) return value;
  return JSON.stringify(value) ?? String(value);
}

// The message first, then its fields as key=value, then level and time.
const textFormat = winston.format.printf(({ level, message, timestamp, ...fields }) => {
  const pairs = Object.entries(fields).map(([key, value]) => ` ${key}=${textValue(value)}`);
  return `${String(message)}${pairs.join('')}  [${level} ${String(timestamp)}]`;
});

export function formatFor(kind: LogFormat): winston.Logform.Format {
  return kind === 'text'
    ? winston.format.combine(winston.format.timestamp({ format: 'HH:mm:ss.SSS' }), textFormat)
    : winston.format.combine(winston.format.timestamp(), winston.format.json());
}

/** winston's default (npm) levels, most severe first. */
const LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;

export const log = winston.createLogger({
  level: process.env.SWITCHYARD_LOG_LEVEL ?? (process.env.JEST_WORKER_ID ? 'error' : 'info'),
  format: formatFor((process.env.SWITCHYARD_LOG_FORMAT as LogFormat | undefined) ?? defaultLogFormat()),
  // stderr, so that `render` and `validate` can print clean output on stdout.
  transports: [new winston.transports.Console({ stderrLevels: [...LEVELS] })],
});

// winston formats every call (time stamp, JSON) and only then lets its transports drop the line
// by level; a level that is off returns at once, so a debug line on the push path costs nothing.
for (const level of LEVELS) {
  const write = log[level].bind(log);
  log[level] = ((...args: Parameters<winston.LeveledLogMethod>) =>
    log.isLevelEnabled(level) ? write(...args) : log) as winston.LeveledLogMethod;
}

export function configureLog(options: { level?: string; format?: LogFormat }): void {
  if (options.level) log.level = options.level;
  if (options.format) log.format = formatFor(options.format);
}
