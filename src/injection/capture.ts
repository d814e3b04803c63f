// The sidecar's traffic capture: the iptables rules an injected pod's init container installs in
// the pod's network namespace. Outbound TCP goes to the proxy's outbound listener, inbound TCP to
// its inbound listener, except what must never loop through the proxy: the proxy's own
// connections (by its UID), loopback, the proxy's own ports, and what the pod's annotations exclude.
// The rules are built here as text for iptables-restore (pure, so tests read them), and applied by
// `switchyard capture --apply`. IPv4 only: IPv6 traffic is not captured.
import { spawnSync } from 'node:child_process';

export interface CaptureSettings {
  /** Port of the proxy's outbound listener (every captured outbound connection lands here). */
  outboundPort: number;
  /** Port of the proxy's inbound listener. */
  inboundPort: number;
  /** The proxy runs as this UID; its connections are never captured. */
  proxyUid: number;
  /** Outbound destination ports left alone (e.g. a database the proxy must not see). */
  excludeOutboundPorts: number[];
  /** Outbound destination CIDRs left alone (IPv4). */
  excludeOutboundCidrs: string[];
  /** Inbound destination ports left alone (besides the proxy's own range). */
  excludeInboundPorts: number[];
  /** The proxy's own ports (admin, health, listeners): never captured inbound. */
  proxyPortRange: [number, number];
}

export const DEFAULT_CAPTURE: CaptureSettings = {
  outboundPort: 15001,
  inboundPort: 15006,
  proxyUid: 1337,
  excludeOutboundPorts: [],
  excludeOutboundCidrs: [],
  excludeInboundPorts: [],
  proxyPortRange: [15000, 15090],
};

/** Our chains, so the rules are recognisable in `iptables-save` and never mix with others. */
export const CHAINS = {
  inbound: 'SWITCHYARD_INBOUND',
  outbound: 'SWITCHYARD_OUTBOUND',
} as const;

/** Parses "5432, 6379" into ports; throws with what is wrong (the caller names where it came from). */
export function parsePortList(text: string): number[] {
  const ports: number[] = [];
  for (const item of text.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    const port = /^\d{1,5}$/.test(item) ? Number(item) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new Error(`"${item}" is not a port number (1-65535)`);
    ports.push(port);
  }
  return [...new Set(ports)];
}

/** Parses "10.0.0.0/8, 192.168.1.7" into IPv4 CIDRs (a bare address is /32); throws with what is wrong. */
export function parseCidrList(text: string): string[] {
  const cidrs: string[] = [];
  for (const item of text.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(item);
    const octetsOk = match !== null && match.slice(1, 5).every((o) => Number(o) <= 255);
    const prefix = match?.[5] === undefined ? 32 : Number(match[5]);
    if (!match || !octetsOk || prefix > 32) throw new Error(`"${item}" is not an IPv4 address or CIDR (e.g. 10.0.0.0/8)`);
    cidrs.push(`${match.slice(1, 5).map(Number).join('.')}/${prefix}`);
  }
  return [...new Set(cidrs)];
}

/**
 * The nat table for iptables-restore. It replaces the whole nat table of the namespace it is
 * applied in, so applying it twice leaves the same rules (a pod's network namespace is new and
 * holds no other nat rules).
 *
 * Order matters: the first matching rule wins, so every exclusion comes before the REDIRECT.
 * REDIRECT keeps the original destination, which the proxy reads with SO_ORIGINAL_DST.
 */
export function captureRules(settings: CaptureSettings): string {
  const { inbound, outbound } = CHAINS;
  const [low, high] = settings.proxyPortRange;
  const lines = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    `:${inbound} - [0:0]`,
    `:${outbound} - [0:0]`,
    // Inbound: connections arriving at the pod from outside.
    `-A PREROUTING -p tcp -j ${inbound}`,
    `-A ${inbound} -p tcp --dport ${low}:${high} -j RETURN`,
    ...settings.excludeInboundPorts.map((port) => `-A ${inbound} -p tcp --dport ${port} -j RETURN`),
    `-A ${inbound} -p tcp -j REDIRECT --to-ports ${settings.inboundPort}`,
    // Outbound: connections the pod's processes open.
    `-A OUTPUT -p tcp -j ${outbound}`,
    // The proxy's own connections go where they were sent, or every connection would loop.
    `-A ${outbound} -m owner --uid-owner ${settings.proxyUid} -j RETURN`,
    // Loopback (127.0.0.0/8 and the pod's own addresses): the app talking to itself or a sidecar.
    `-A ${outbound} -o lo -j RETURN`,
    `-A ${outbound} -d 127.0.0.0/8 -j RETURN`,
    ...settings.excludeOutboundCidrs.map((cidr) => `-A ${outbound} -d ${cidr} -j RETURN`),
    ...settings.excludeOutboundPorts.map((port) => `-A ${outbound} -p tcp --dport ${port} -j RETURN`),
    `-A ${outbound} -p tcp -j REDIRECT --to-ports ${settings.outboundPort}`,
    'COMMIT',
  ];
  return lines.join('\n') + '\n';
}

/** Runs iptables-restore with the rules in the current network namespace (or `command`, e.g. wrapped
 * in `ip netns exec`); throws with its error output. */
export function applyCaptureRules(rules: string, command: string[] = ['iptables-restore']): void {
  const [program, ...args] = command;
  const result = spawnSync(program, args, { input: rules, encoding: 'utf8' });
  if (result.error) throw new Error(`cannot run ${program}: ${result.error.message} (the capture image needs iptables installed)`);
  if (result.status !== 0) {
    throw new Error(
      `${command.join(' ')} refused the capture rules (exit ${result.status}): ${result.stderr.trim()} (it needs NET_ADMIN and NET_RAW)`,
    );
  }
}
