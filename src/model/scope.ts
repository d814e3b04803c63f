// Egress scopes: which Services a namespace's sidecars may reach. A Namespace declares it in the
// annotation `switchyard.dev/egress`, a list of `<namespace>/<service>` hosts where the namespace
// may be `.` (its own) or `*` (any) and the service `*` (all of that namespace). Without the
// annotation a sidecar reaches every Service. Sidecars of one scope share one configuration, and
// a Service outside it is never translated for them.
import { createHash } from 'node:crypto';
import { compare, objectKey } from './keys.js';
import type { ServicePolicy } from './types.js';

export const EGRESS_ANNOTATION = 'switchyard.dev/egress';

/** One `<namespace>/<service>` entry, its `.` resolved to the declaring namespace. */
export interface EgressHost {
  namespace: string;
  service: string;
}

export interface EgressScope {
  /** Resolved and sorted: the canonical form, so equal scopes have equal ids. */
  hosts: EgressHost[];
  /** A short stable id of the scope (a hash of its canonical form). */
  id: string;
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The scope of the annotation's value for a namespace, or the error (one message naming the
 * entry at fault and what it should look like).
 */
export function parseEgress(namespace: string, value: string): { scope: EgressScope } | { error: string } {
  const entries = value
    .split(/[\s,]+/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return { error: 'no hosts; list `<namespace>/<service>` entries, e.g. "./*,shared/*"' };
  const hosts = new Map<string, EgressHost>();
  for (const entry of entries) {
    const parts = entry.split('/');
    if (parts.length !== 2) return { error: `"${entry}" is not <namespace>/<service> (e.g. "./*", "shared/*", "shop/reviews")` };
    const [ns, service] = parts;
    if (ns !== '.' && ns !== '*' && !LABEL.test(ns)) {
      return { error: `"${entry}": namespace "${ns}" is not ".", "*" or a namespace name (lowercase letters, digits, "-")` };
    }
    if (service !== '*' && !LABEL.test(service)) {
      return { error: `"${entry}": service "${service}" is not "*" or a Service name (lowercase letters, digits, "-")` };
    }
    const host = { namespace: ns === '.' ? namespace : ns, service };
    hosts.set(`${host.namespace}/${host.service}`, host);
  }
  const sorted = [...hosts.entries()].sort(([a], [b]) => compare(a, b)).map(([, host]) => host);
  const id = createHash('sha256').update(JSON.stringify(sorted)).digest('base64url').slice(0, 12);
  return { scope: { hosts: sorted, id } };
}

/** Whether the scope lists `*\/*`: every Service, the same as no scope (so it is served as none, sharing the unscoped group). */
export function holdsEverything(scope: EgressScope): boolean {
  return scope.hosts.some((host) => host.namespace === '*' && host.service === '*');
}

/** Whether the scope holds the Service `<namespace>/<name>`. */
export function scopeHolds(scope: EgressScope, namespace: string, name: string): boolean {
  return scope.hosts.some(
    (host) => (host.namespace === '*' || host.namespace === namespace) && (host.service === '*' || host.service === name),
  );
}

/**
 * The Services a scope reaches: those it holds, and every Service their policies split or route
 * to (transitively) — a route must never name a cluster the proxy lacks, and a split is part of
 * the Service the sidecar dialled.
 */
export function scopeReach(
  scope: EgressScope,
  services: Iterable<{ key: string; namespace: string; name: string }>,
  policyOf: (serviceKey: string) => ServicePolicy | undefined,
  exists: (serviceKey: string) => boolean,
): Set<string> {
  const reach = new Set<string>();
  const queue: string[] = [];
  for (const service of services) {
    if (scopeHolds(scope, service.namespace, service.name)) {
      reach.add(service.key);
      queue.push(service.key);
    }
  }
  while (queue.length > 0) {
    const policy = policyOf(queue.pop()!);
    if (!policy) continue;
    for (const backend of [...policy.split, ...policy.routes.flatMap((route) => route.backends)]) {
      if (reach.has(backend.serviceKey) || !exists(backend.serviceKey)) continue;
      reach.add(backend.serviceKey);
      queue.push(backend.serviceKey);
    }
  }
  return reach;
}

/** `<namespace>/<name>` keys in the scope's words, for logs. */
export function describeScope(scope: EgressScope): string {
  return scope.hosts.map((host) => objectKey(host.namespace, host.service)).join(',');
}
