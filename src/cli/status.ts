// `switchyard status`: asks a running control plane's admin server which proxies are connected
// and whether each holds the latest configuration, and prints one line per proxy, like
// `istioctl proxy-status`.
import http from 'node:http';
import type { FlagSpec, FlagValues } from './flags.js';
import type { ProxyView } from '../admin/proxies.js';
import { TYPE_ABBREVIATIONS } from '../admin/types.js';

export const STATUS_FLAGS: FlagSpec[] = [
  {
    name: 'admin',
    type: 'string',
    default: '127.0.0.1:19000',
    check: adminAddressProblem,
    help: "host:port of the control plane's admin server",
  },
  { name: 'timeout-ms', type: 'int', default: 5000, min: 1, help: 'give up on the admin server after this long' },
];

interface StatusOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const COLUMNS = ['NODE', 'ROLE', 'CLIENT', 'FLAVOUR', ...TYPE_ABBREVIATIONS.map(([abbreviation]) => abbreviation), 'CONNECTED'];

/** "3s", "4m12s", "2h5m", "3d4h": how long ago `since` was. */
export function formatAge(since: Date, now: Date): string {
  let seconds = Math.max(0, Math.floor((now.getTime() - since.getTime()) / 1000));
  const days = Math.floor(seconds / 86400);
  seconds -= days * 86400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (days > 0) return `${days}d${hours}h`;
  if (hours > 0) return `${hours}h${minutes}m`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** The table `status` prints: a header and one row per proxy, in aligned columns. */
export function formatStatusTable(proxies: ProxyView[], now: Date): string {
  const rows = proxies.map((proxy) => [
    proxy.nodeId === '' ? '(no node yet)' : proxy.nodeId,
    proxy.gateway !== undefined ? `gateway/${proxy.gateway}` : proxy.role,
    clientCell(proxy),
    proxy.flavour,
    ...TYPE_ABBREVIATIONS.map(([, shortName]) => proxy.types[shortName]?.state ?? 'NOT SENT'),
    formatAge(new Date(proxy.connectedSince), now),
  ]);
  const table = [COLUMNS, ...rows];
  const widths = COLUMNS.map((_, column) => Math.max(...table.map((row) => row[column].length)));
  const lines = table.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('   '));
  return lines.join('\n') + '\n';
}

/** `grpc-core/1.51.1`, with ` DEGRADED` when the proxy does not get some policy as written (details under the table). */
function clientCell(proxy: ProxyView): string {
  const label = proxy.client?.label ?? '-';
  return proxy.degradations?.length ? `${label} DEGRADED` : label;
}

/** Lines under the table for every degraded proxy: what it does not get as written, and why. */
function formatDegradations(proxies: ProxyView[]): string {
  const lines: string[] = [];
  for (const proxy of proxies) {
    for (const degradation of proxy.degradations ?? []) {
      lines.push(`${proxy.nodeId} DEGRADED ${degradation.cluster ?? degradation.service}: ${degradation.reason}`);
    }
  }
  return lines.length > 0 ? '\n' + lines.join('\n') + '\n' : '';
}

/** Lines under the table for every NACK, which a table cell cannot hold. */
export function formatNacks(proxies: ProxyView[]): string {
  const lines: string[] = [];
  for (const proxy of proxies) {
    for (const [abbreviation, shortName] of TYPE_ABBREVIATIONS) {
      const type = proxy.types[shortName];
      if (type?.state === 'NACKED')
        lines.push(`${proxy.nodeId} ${abbreviation} NACKED version ${type.versionSent}: ${type.lastNack ?? ''}`);
    }
  }
  return lines.length > 0 ? '\n' + lines.join('\n') + '\n' : '';
}

/** Lines under the table for every resource a proxy asked for and was refused (a gateway Secret its identity may not read). */
export function formatWithheld(proxies: ProxyView[]): string {
  const lines: string[] = [];
  for (const proxy of proxies) {
    for (const [abbreviation, shortName] of TYPE_ABBREVIATIONS) {
      for (const { name, reason } of proxy.types[shortName]?.withheld ?? [])
        lines.push(`${proxy.nodeId} ${abbreviation} WITHHELD ${name}: ${reason}`);
    }
  }
  return lines.length > 0 ? '\n' + lines.join('\n') + '\n' : '';
}

function parseAdminAddress(admin: unknown): { host: string; port: number } {
  const text = typeof admin === 'string' ? admin.trim() : '';
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new StatusError(`--admin: expected host:port of the admin server, e.g. 127.0.0.1:19000, got "${String(admin ?? '')}"`);
  }
  return { host: match[1] ?? match[2], port };
}

/** For the flag's check: what --admin accepts, when `admin` is not that. */
function adminAddressProblem(admin: string): string | undefined {
  try {
    parseAdminAddress(admin);
    return undefined;
  } catch {
    return 'expected host:port of the admin server, e.g. 127.0.0.1:19000';
  }
}

class StatusError extends Error {}

function fetchProxies(host: string, port: number, timeoutMs: number): Promise<ProxyView[]> {
  const where = `http://${host.includes(':') ? `[${host}]` : host}:${port}/debug/proxies`;
  return new Promise((resolve, reject) => {
    const request = http.get({ host, port, path: '/debug/proxies', timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error) => reject(new StatusError(`reading ${where} failed: ${error.message}`)));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (response.statusCode !== 200) {
          reject(new StatusError(`${where} answered ${response.statusCode}: ${body.trim()}`));
          return;
        }
        try {
          const parsed: unknown = JSON.parse(body);
          if (!Array.isArray(parsed)) throw new Error('expected a JSON array of proxies');
          resolve(parsed as ProxyView[]);
        } catch (error) {
          reject(new StatusError(`${where} did not return the proxy list: ${(error as Error).message}`));
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'ECONNREFUSED' ? 'connection refused (is `switchyard serve` running, with this admin port?)' : error.message;
      reject(new StatusError(`cannot reach the admin server at ${host}:${port}: ${reason}`));
    });
  });
}

/** Prints the proxy table; 0 on success, 1 when the admin server cannot be reached or answers wrongly. */
export async function status(
  values: Partial<Pick<FlagValues, 'admin' | 'timeoutMs'>>,
  output: StatusOutput = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    const { host, port } = parseAdminAddress(values.admin ?? '127.0.0.1:19000');
    const timeoutMs = typeof values.timeoutMs === 'number' ? values.timeoutMs : 5000;
    const proxies = await fetchProxies(host, port, timeoutMs);
    if (proxies.length === 0) {
      output.stdout.write('no proxies connected\n');
      return 0;
    }
    output.stdout.write(
      formatStatusTable(proxies, new Date()) + formatNacks(proxies) + formatWithheld(proxies) + formatDegradations(proxies),
    );
    return 0;
  } catch (error) {
    if (!(error instanceof StatusError)) throw error;
    output.stderr.write(`switchyard status: ${error.message}\n`);
    return 1;
  }
}
