import type { ProxyTypeView, ProxyView } from '../../src/admin/proxies.js';
import { formatAge, formatNacks, formatStatusTable, formatWithheld, status, STATUS_FLAGS } from '../../src/cli/status.js';
import { parseFlags } from '../../src/cli/flags.js';

function typeView(state: ProxyTypeView['state'], extra: Partial<ProxyTypeView> = {}): ProxyTypeView {
  return { typeUrl: 'x', wildcard: false, names: [], versionSent: 'v2', versionAcked: 'v1', state, nackCount: 0, ...extra };
}

const connectedSince = '2026-01-01T10:00:00.000Z';

const proxies: ProxyView[] = [
  {
    nodeId: 'sidecar~10.0.0.1~reviews-v1.shop',
    group: 'sidecar',
    role: 'sidecar',
    flavour: 'delta',
    peer: 'ipv4:10.0.0.1:40000',
    streamId: 1,
    connectedSince,
    types: {
      Cluster: typeView('SYNCED'),
      ClusterLoadAssignment: typeView('STALE'),
      Listener: typeView('NACKED', { lastNack: 'listener outbound-http: duplicate filter', versionSent: 'abc' }),
      'type.googleapis.com/other.Thing': typeView('SYNCED'),
    },
  },
  {
    nodeId: 'edge',
    group: 'gateway/public',
    role: 'gateway',
    gateway: 'public',
    flavour: 'sotw',
    peer: 'ipv4:10.0.0.2:40000',
    streamId: 2,
    connectedSince,
    types: {},
  },
  { nodeId: '', group: '', role: 'unidentified', flavour: 'sotw', peer: 'ipv4:10.0.0.3:1', streamId: 3, connectedSince, types: {} },
];

describe('switchyard status output', () => {
  it('prints aligned columns with a state per xDS type, NOT SENT for types never sent', () => {
    const text = formatStatusTable(proxies, new Date('2026-01-01T10:04:07.000Z'));
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0].split(/\s+/)).toEqual(['NODE', 'ROLE', 'CLIENT', 'FLAVOUR', 'CDS', 'EDS', 'LDS', 'RDS', 'SDS', 'CONNECTED']);
    const cells = lines.map((line) => line.split(/\s{2,}/));
    expect(cells[1]).toEqual([
      'sidecar~10.0.0.1~reviews-v1.shop',
      'sidecar',
      '-',
      'delta',
      'SYNCED',
      'STALE',
      'NACKED',
      'NOT SENT',
      'NOT SENT',
      '4m7s',
    ]);
    expect(cells[2]).toEqual(['edge', 'gateway/public', '-', 'sotw', 'NOT SENT', 'NOT SENT', 'NOT SENT', 'NOT SENT', 'NOT SENT', '4m7s']);
    expect(cells[3][0]).toBe('(no node yet)');
    // Every column starts at the same offset on every line.
    const flavourColumn = lines[0].indexOf('FLAVOUR');
    for (const line of lines.slice(1)) expect(line.slice(flavourColumn).split(' ')[0]).toMatch(/^(delta|sotw)$/);
  });

  it('lists each NACK with its version and message under the table', () => {
    expect(formatNacks(proxies)).toBe(
      '\nsidecar~10.0.0.1~reviews-v1.shop LDS NACKED version abc: listener outbound-http: duplicate filter\n',
    );
    expect(formatNacks(proxies.slice(1))).toBe('');
  });

  it('lists each withheld resource with the reason under the table', () => {
    const gateway: ProxyView = {
      ...proxies[1],
      types: { Secret: typeView('SYNCED', { withheld: [{ name: 'shop/shop-tls', reason: 'not for this client' }] }) },
    };
    expect(formatWithheld([gateway])).toBe('\nedge SDS WITHHELD shop/shop-tls: not for this client\n');
    expect(formatWithheld(proxies)).toBe('');
  });

  it('formats connection ages in the two largest units', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    const at = (seconds: number) => new Date(from.getTime() + seconds * 1000);
    expect(formatAge(from, at(0))).toBe('0s');
    expect(formatAge(from, at(59))).toBe('59s');
    expect(formatAge(from, at(3600 + 120 + 5))).toBe('1h2m');
    expect(formatAge(from, at(2 * 86400 + 3 * 3600))).toBe('2d3h');
    // A clock that steps back does not print negative ages.
    expect(formatAge(from, at(-10))).toBe('0s');
  });

  it('rejects an --admin value that is not host:port without contacting anything', async () => {
    const stderr: string[] = [];
    const output = { stdout: { write: () => true }, stderr: { write: (t: string) => stderr.push(t) } };
    expect(await status({ admin: 'localhost' }, output)).toBe(1);
    expect(stderr.join('')).toBe(
      'switchyard status: --admin: expected host:port of the admin server, e.g. 127.0.0.1:19000, got "localhost"\n',
    );
    expect(await status({ admin: '127.0.0.1:99999' }, output)).toBe(1);
  });

  it('takes --admin and --timeout-ms as flags, environment or defaults', () => {
    expect(parseFlags(STATUS_FLAGS, [], {}).values).toEqual({ admin: '127.0.0.1:19000', timeoutMs: 5000 });
    expect(parseFlags(STATUS_FLAGS, ['--admin', '[::1]:19001'], { SWITCHYARD_TIMEOUT_MS: '100' }).values).toEqual({
      admin: '[::1]:19001',
      timeoutMs: 100,
    });
  });
});
