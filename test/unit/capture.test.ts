// The capture rules as text, and `switchyard capture`: every exclusion comes before the REDIRECT
// it must beat, the proxy's UID first of all, and bad ports or CIDRs stop with the flag's name.
import { jest } from '@jest/globals';
import { captureRules, DEFAULT_CAPTURE, parseCidrList, parsePortList } from '../../src/injection/capture.js';
import { main } from '../../src/cli/main.js';

function chain(rules: string, name: string): string[] {
  return rules.split('\n').filter((line) => line.startsWith(`-A ${name} `));
}

describe('captureRules', () => {
  const rules = captureRules({
    ...DEFAULT_CAPTURE,
    excludeOutboundPorts: [5432],
    excludeOutboundCidrs: ['10.0.0.0/8'],
    excludeInboundPorts: [22],
  });

  it('sends outbound TCP to 15001, after the proxy UID, loopback and the exclusions', () => {
    expect(chain(rules, 'SWITCHYARD_OUTBOUND')).toEqual([
      '-A SWITCHYARD_OUTBOUND -m owner --uid-owner 1337 -j RETURN',
      '-A SWITCHYARD_OUTBOUND -o lo -j RETURN',
      '-A SWITCHYARD_OUTBOUND -d 127.0.0.0/8 -j RETURN',
      '-A SWITCHYARD_OUTBOUND -d 10.0.0.0/8 -j RETURN',
      '-A SWITCHYARD_OUTBOUND -p tcp --dport 5432 -j RETURN',
      '-A SWITCHYARD_OUTBOUND -p tcp -j REDIRECT --to-ports 15001',
    ]);
    expect(rules).toContain('-A OUTPUT -p tcp -j SWITCHYARD_OUTBOUND');
  });

  it("sends inbound TCP to 15006, except the proxy's ports 15000-15090 and excluded ports", () => {
    expect(chain(rules, 'SWITCHYARD_INBOUND')).toEqual([
      '-A SWITCHYARD_INBOUND -p tcp --dport 15000:15090 -j RETURN',
      '-A SWITCHYARD_INBOUND -p tcp --dport 22 -j RETURN',
      '-A SWITCHYARD_INBOUND -p tcp -j REDIRECT --to-ports 15006',
    ]);
    expect(rules).toContain('-A PREROUTING -p tcp -j SWITCHYARD_INBOUND');
  });

  it('is one nat table for iptables-restore', () => {
    expect(rules.startsWith('*nat\n')).toBe(true);
    expect(rules.endsWith('COMMIT\n')).toBe(true);
  });
});

describe('parsing ports and CIDRs', () => {
  it('reads lists with spaces and repeats, and says what is wrong', () => {
    expect(parsePortList(' 5432, 6379,5432 ,')).toEqual([5432, 6379]);
    expect(() => parsePortList('80,70000')).toThrow('"70000" is not a port number (1-65535)');
    expect(parseCidrList('169.254.169.254, 10.0.0.0/8')).toEqual(['169.254.169.254/32', '10.0.0.0/8']);
    expect(() => parseCidrList('10.0.0.0/33')).toThrow('"10.0.0.0/33" is not an IPv4 address or CIDR');
    expect(() => parseCidrList('fd00::/8')).toThrow(/not an IPv4 address/);
  });
});

describe('switchyard capture', () => {
  async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
    try {
      const code = await main(
        argv,
        { stdout: { write: (t: string) => stdout.push(t) }, stderr: { write: (t: string) => stderr.push(t) } },
        {},
      );
      return { code, stdout: stdout.join(''), stderr: stderr.join('') };
    } finally {
      spy.mockRestore();
    }
  }

  it('prints the rules for its flags', async () => {
    const result = await run(['capture', '--proxy-uid', '2000', '--exclude-outbound-ports', '3306', '--outbound-port=16001']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(captureRules({ ...DEFAULT_CAPTURE, proxyUid: 2000, outboundPort: 16001, excludeOutboundPorts: [3306] }));
  });

  it('refuses a bad port or CIDR with exit 2, naming the flag', async () => {
    const result = await run(['capture', '--exclude-outbound-cidrs', '10.0.0.0/40']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'switchyard capture: --exclude-outbound-cidrs: "10.0.0.0/40" is not an IPv4 address or CIDR (e.g. 10.0.0.0/8)\n',
    );
  });

  it('serve --injection without --kubernetes is refused before anything starts', async () => {
    const result = await run(['serve', '--injection']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('switchyard serve: --injection needs --kubernetes: the webhook is called by the Kubernetes API server\n');
  });
});
