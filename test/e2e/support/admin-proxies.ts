// What Switchyard's admin server says about one connected proxy (/debug/proxies): whether its
// configuration is ACKed, and which degradations it is served. Read the way a user would read it.
import type { Harness } from './harness.js';

/** One /debug/proxies entry, loosely typed: these helpers read it as a user reads the JSON. */
type ProxyEntry = Record<string, unknown> & {
  nodeId: string;
  role: string;
  types: Record<string, { state: string; nackCount: number; lastNack?: string }>;
};

/** The /debug/proxies entries (one per open stream) of node `nodeId`. */
export async function proxyEntries(harness: Harness, nodeId: string): Promise<ProxyEntry[]> {
  const port = harness.switchyard.adminPort;
  if (!port) throw new Error('start the harness with { admin: true } to read /debug/proxies');
  const response = await fetch(`http://127.0.0.1:${port}/debug/proxies`);
  if (!response.ok) throw new Error(`/debug/proxies answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as ProxyEntry[]).filter((entry) => entry.nodeId === nodeId);
}

/**
 * The node's configuration as /debug/proxies shows it, and the NACKs the xDS server saw from it since
 * `nackMark` (an index into harness.nacks): `{ proxies: 1, role, states: { Cluster: 'SYNCED', ... }, nacks: [] }`
 * when all is well. A test compares it whole, so a failure prints everything.
 */
export async function configState(harness: Harness, nodeId: string, nackMark = 0) {
  const entries = await proxyEntries(harness, nodeId);
  const states: Record<string, string> = {};
  for (const entry of entries) for (const [type, view] of Object.entries(entry.types)) states[type] = view.state;
  const nacks = harness.nacks
    .slice(nackMark)
    .filter((event) => event.nodeId === nodeId)
    .map((event) => `${event.typeUrl.split('.').pop()}: ${event.message}`);
  return { proxies: entries.length, role: entries[0]?.role, states, nacks };
}

/** What configState should say when everything the node was sent is ACKed (one stream, all four types). */
export function allAcked(role = 'proxyless') {
  const synced = 'SYNCED';
  return {
    proxies: 1,
    role,
    states: { Cluster: synced, ClusterLoadAssignment: synced, Listener: synced, RouteConfiguration: synced },
    nacks: [],
  };
}

/**
 * The degradations /debug/proxies records for this proxy entry, as text: every element of any array
 * under a key naming degradations, anywhere in the entry (so the check does not depend on where the
 * entry keeps them or on their exact shape), JSON-encoded.
 */
export function degradationsOf(entry: unknown): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(walk);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (/degradation/i.test(key) && Array.isArray(child))
          found.push(...child.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))));
        else walk(child);
      }
    }
  };
  walk(entry);
  return found;
}
