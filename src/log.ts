// The one logger. JSON lines by default (what log collectors want); `text` for people
// at a terminal. Callers pass fields, not concatenated prose: log.info('pushed', { node, typeUrl }).
import winston from 'winston';

export type LogFormat = 'json' | 'text';

const textFormat = winston.format.printf(({ level, message, timestamp, ...fields }) => {
  const rest = Object.keys(fields).length ? ' ' + JSON.stringify(fields) : '';
  return `${timestamp} ${level} ${message}${rest}`;
});

function formatFor(kind: LogFormat): winston.Logform.Format {
  return kind === 'text'
    ? winston.format.combine(winston.format.timestamp(), textFormat)
    : winston.format.combine(winston.format.timestamp(), winston.format.json());
}

export const log = winston.createLogger({
  level: process.env.SWITCHYARD_LOG_LEVEL ?? (process.env.JEST_WORKER_ID ? 'error' : 'info'),
  format: formatFor((process.env.SWITCHYARD_LOG_FORMAT as LogFormat) ?? 'json'),
  // stderr, so that `render` and `validate` can print clean output on stdout.
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
});

export function configureLog(options: { level?: string; format?: LogFormat }): void {
  if (options.level) log.level = options.level;
  if (options.format) log.format = formatFor(options.format);
}
