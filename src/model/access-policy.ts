// The AccessPolicy processor: who may call a Service's workloads, and whether they must use mutual
// TLS. Two pure steps, like TrafficPolicy's: checkAccessPolicy finds what a spec means that Envoy
// cannot do or that names nothing (field-path messages, for status conditions), and
// effectiveAccess combines the valid policies into one ServiceAccess per Service.
//
// How policies combine for a Service <ns>/<name> (the namespace-wide ones of <ns> and those whose
// targetRef names it):
// - mtls: a Service's own policy beats a namespace-wide one, which beats the mesh default
//   (--mtls-mode); between policies at the same level the oldest wins (creationTimestamp, then
//   namespace/name), as for TrafficPolicy.
// - allow: rules add up (a request is admitted when any rule of any policy admits it). As soon as
//   one enforcing policy has `allow` (even empty), everything no rule admits is denied.
// - DryRun: its rules are not enforced; shadow rules (Envoy's shadow_rules) show what the Service
//   would admit if they were: the enforcing rules plus the dry-run ones.
import { statusCondition } from './conditions.js';
import type { AccessPolicyObject, AccessPolicySpec, Condition, MtlsMode } from '../sources/types.js';
import { compare, objectKey } from './keys.js';
import type { PolicyStatus, ServiceInfo } from './types.js';

export type { MtlsMode } from '../sources/types.js';

export const MTLS_MODES: readonly MtlsMode[] = ['Strict', 'Permissive', 'Disable'];

export interface AccessSource {
  namespaces: string[];
  serviceAccounts: Array<{ namespace: string; name: string }>;
  spiffeIds: string[];
}

export interface AccessRule {
  /** `<policy namespace>/<policy name>/<rule index>`: names the RBAC policy, so a denial can be traced. */
  name: string;
  /** Undefined: anyone, authenticated or not. */
  from?: AccessSource;
  /** Each list empty: any. All non-empty lists must match. */
  to: {
    ports: number[];
    paths: Array<{ kind: 'exact' | 'prefix'; value: string }>;
    methods: string[];
    headers: Array<{ name: string; kind: 'exact' | 'prefix' | 'present'; value?: string }>;
  };
}

/** How one Service's workloads are served. */
export interface ServiceAccess {
  serviceKey: string;
  mtls: MtlsMode;
  /** The AccessPolicy (`<namespace>/<name>`) that set `mtls`; undefined for the mesh default. */
  mtlsFrom?: string;
  /** Deny by default, admitting only these; undefined when no enforcing policy has `allow`. */
  rules?: AccessRule[];
  /** What would be enforced with the DryRun policies on; undefined when there is no DryRun policy with `allow`. */
  shadowRules?: AccessRule[];
}

/** A valid AccessPolicy as the model keeps it. */
export interface AccessPolicyEntry {
  namespace: string;
  name: string;
  /** metadata.creationTimestamp in ms. */
  created?: number;
  spec: AccessPolicySpec;
}

interface AccessPolicyIssues {
  /** Accepted=False. */
  spec: string[];
  /** ResolvedRefs=False. */
  refs: string[];
}

type ServiceLookup = (namespace: string, name: string) => ServiceInfo | undefined;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/;
const HTTP_METHOD = /^[A-Z]+$/;
const HEADER_NAME = /^:?[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/** Semantic checks of a spec (structure was checked against the CRD). Every message starts with the field path and says the fix. */
export function checkAccessPolicy(namespace: string, spec: AccessPolicySpec, lookup: ServiceLookup): AccessPolicyIssues {
  const issues: AccessPolicyIssues = { spec: [], refs: [] };
  let target: ServiceInfo | undefined;
  if (spec.targetRef !== undefined) {
    if (!spec.targetRef.name) {
      issues.spec.push('spec.targetRef.name: missing; name the Service, or remove targetRef to apply the policy to the whole namespace');
    } else {
      target = lookup(namespace, spec.targetRef.name);
      if (!target) issues.refs.push(`spec.targetRef.name: Service ${namespace}/${spec.targetRef.name} not found in namespace ${namespace}`);
    }
  }
  // The ports a connection can arrive on at the target's pods (a named targetPort is resolved by pods, so it is not known here).
  const targetPorts =
    target && target.ports.every((p) => p.targetPort === undefined || typeof p.targetPort === 'number')
      ? new Set(target.ports.map((p) => (typeof p.targetPort === 'number' ? p.targetPort : p.port)))
      : undefined;

  spec.allow?.forEach((rule, i) => {
    const at = `spec.allow[${i}]`;
    const from = rule.from;
    if (from) {
      const count = (from.namespaces?.length ?? 0) + (from.serviceAccounts?.length ?? 0) + (from.spiffeIds?.length ?? 0);
      if (count === 0)
        issues.spec.push(`${at}.from: names no namespace, service account or SPIFFE ID; name one, or remove from to admit anyone`);
      if (count > 0 && spec.mtls === 'Disable') {
        issues.spec.push(
          `${at}.from: a caller's identity comes from its client certificate, but mtls is Disable; use Permissive or Strict`,
        );
      }
      from.namespaces?.forEach((ns, j) => {
        if (!DNS_LABEL.test(ns)) issues.spec.push(`${at}.from.namespaces[${j}]: "${ns}" is not a namespace name`);
      });
      from.serviceAccounts?.forEach((sa, j) => {
        const parts = sa.split('/');
        const valid = parts.length <= 2 && (parts.length === 1 || DNS_LABEL.test(parts[0])) && DNS_SUBDOMAIN.test(parts[parts.length - 1]);
        if (!valid) issues.spec.push(`${at}.from.serviceAccounts[${j}]: "${sa}" is not <name> or <namespace>/<name>`);
      });
      from.spiffeIds?.forEach((id, j) => {
        if (!SPIFFE_ID.test(id)) {
          issues.spec.push(
            `${at}.from.spiffeIds[${j}]: "${id}" is not a SPIFFE ID; write spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`,
          );
        }
      });
    }
    const to = rule.to;
    if (!to) return;
    to.ports?.forEach((port, j) => {
      if (!Number.isInteger(port) || port < 1 || port > 65535) issues.spec.push(`${at}.to.ports[${j}]: ${port} is not a port (1-65535)`);
      else if (targetPorts && !targetPorts.has(port)) {
        issues.refs.push(
          `${at}.to.ports[${j}]: Service ${namespace}/${spec.targetRef?.name} sends to no port ${port} of its pods (its target ports: ${[...targetPorts].join(', ')})`,
        );
      }
    });
    to.paths?.forEach((path, j) => {
      const set = (['exact', 'prefix'] as const).filter((k) => path[k] !== undefined);
      if (set.length !== 1) issues.spec.push(`${at}.to.paths[${j}]: set exactly one of exact or prefix`);
      for (const key of set) {
        if (!path[key]!.startsWith('/')) issues.spec.push(`${at}.to.paths[${j}].${key}: ${JSON.stringify(path[key])} must start with /`);
      }
    });
    to.methods?.forEach((method, j) => {
      if (!HTTP_METHOD.test(method))
        issues.spec.push(`${at}.to.methods[${j}]: "${method}" is not an HTTP method; write it in capitals, e.g. GET`);
    });
    to.headers?.forEach((header, j) => {
      if (!HEADER_NAME.test(header.name ?? ''))
        issues.spec.push(`${at}.to.headers[${j}].name: ${JSON.stringify(header.name)} is not a valid HTTP header name`);
      const set = (['exact', 'prefix', 'present'] as const).filter((k) => header[k] !== undefined);
      if (set.length !== 1) issues.spec.push(`${at}.to.headers[${j}]: set exactly one of exact, prefix or present`);
      if (header.present === false)
        issues.spec.push(`${at}.to.headers[${j}].present: only true is meaningful; an allow rule cannot require a header to be absent`);
    });
  });
  return issues;
}

function normalizeRule(policy: AccessPolicyEntry, index: number, rule: NonNullable<AccessPolicySpec['allow']>[number]): AccessRule {
  const from = rule.from;
  const to = rule.to ?? {};
  return {
    name: `${policy.namespace}/${policy.name}/${index}`,
    ...(from
      ? {
          from: {
            namespaces: [...(from.namespaces ?? [])],
            serviceAccounts: (from.serviceAccounts ?? []).map((sa) => {
              const [first, second] = sa.split('/');
              return second === undefined ? { namespace: policy.namespace, name: first } : { namespace: first, name: second };
            }),
            spiffeIds: [...(from.spiffeIds ?? [])],
          },
        }
      : {}),
    to: {
      ports: [...(to.ports ?? [])],
      paths: (to.paths ?? []).map((p) =>
        p.exact !== undefined ? { kind: 'exact', value: p.exact } : { kind: 'prefix', value: p.prefix ?? '/' },
      ),
      methods: [...(to.methods ?? [])],
      headers: (to.headers ?? []).map((h) =>
        h.exact !== undefined
          ? { name: h.name, kind: 'exact', value: h.exact }
          : h.prefix !== undefined
            ? { name: h.name, kind: 'prefix', value: h.prefix }
            : { name: h.name, kind: 'present' },
      ),
    },
  };
}

/** Oldest first (a policy without a creationTimestamp after those with one), then namespace/name. */
function byAge(a: AccessPolicyEntry, b: AccessPolicyEntry): number {
  const age = (a.created ?? Infinity) - (b.created ?? Infinity);
  if (age !== 0 && !Number.isNaN(age)) return age;
  return compare(objectKey(a.namespace, a.name), objectKey(b.namespace, b.name));
}

/** The policies that apply to a Service: its own first, then the namespace-wide ones, each oldest first. */
export function policiesFor(service: Pick<ServiceInfo, 'namespace' | 'name'>, policies: readonly AccessPolicyEntry[]): AccessPolicyEntry[] {
  const own = policies.filter((p) => p.namespace === service.namespace && p.spec.targetRef?.name === service.name).sort(byAge);
  const wide = policies.filter((p) => p.namespace === service.namespace && p.spec.targetRef === undefined).sort(byAge);
  return [...own, ...wide];
}

/** How one Service's workloads are served, from the valid policies that apply and the mesh default. */
export function serviceAccess(
  service: Pick<ServiceInfo, 'namespace' | 'name'> & { key?: string },
  policies: readonly AccessPolicyEntry[],
  defaultMtls: MtlsMode,
): ServiceAccess {
  // No policy in the namespace (most Services): the mesh default, without sorting and filtering
  // empty lists, and with the Service's own key when it has one (10,000 of them kept at start-up).
  if (policies.length === 0) return { serviceKey: service.key ?? objectKey(service.namespace, service.name), mtls: defaultMtls };
  const applicable = policiesFor(service, policies);
  const modeSetter = applicable.find((p) => p.spec.mtls !== undefined);
  const withRules = [...applicable].sort(byAge).filter((p) => p.spec.allow !== undefined);
  const enforcing = withRules.filter((p) => (p.spec.mode ?? 'Enforce') === 'Enforce');
  const dryRun = withRules.filter((p) => p.spec.mode === 'DryRun');
  const rulesOf = (list: AccessPolicyEntry[]) => list.flatMap((p) => (p.spec.allow ?? []).map((rule, i) => normalizeRule(p, i, rule)));
  return {
    serviceKey: objectKey(service.namespace, service.name),
    mtls: modeSetter?.spec.mtls ?? defaultMtls,
    ...(modeSetter ? { mtlsFrom: objectKey(modeSetter.namespace, modeSetter.name) } : {}),
    ...(enforcing.length > 0 ? { rules: rulesOf(enforcing) } : {}),
    ...(dryRun.length > 0 ? { shadowRules: rulesOf(withRules) } : {}),
  };
}

/** Every Service's access, keyed `<namespace>/<name>`. */
export function effectiveAccess(
  services: Iterable<Pick<ServiceInfo, 'namespace' | 'name'>>,
  policies: readonly AccessPolicyEntry[],
  defaultMtls: MtlsMode,
): Map<string, ServiceAccess> {
  const out = new Map<string, ServiceAccess>();
  for (const service of services) out.set(objectKey(service.namespace, service.name), serviceAccess(service, policies, defaultMtls));
  return out;
}

// ---- the model's AccessPolicies ---------------------------------------------------------------

interface StoredAccessPolicy {
  namespace: string;
  name: string;
  /** The last structurally valid object; undefined when only a rejected version was seen. */
  object?: AccessPolicyObject;
  /** Schema errors of the source's last `rejected` event, cleared by the next upsert. */
  rejectedErrors?: string[];
  rejectedGeneration?: number;
  created?: number;
}

const NO_POLICIES: readonly AccessPolicyEntry[] = [];

/** What one re-evaluation changed. */
export interface AccessPolicyChange {
  /** Services whose ServiceAccess changed. */
  services: Set<string>;
  /** AccessPolicies whose status changed (or that were deleted). */
  statuses: Set<string>;
}

/**
 * The AccessPolicies of the model: each policy as last written, its status conditions (Accepted,
 * ResolvedRefs), the spec it is applied with (the current one if valid, else its last valid one) and
 * the resulting ServiceAccess of every Service. Work follows the change: a policy event re-evaluates
 * its namespace, a Service event that Service and the policies of its namespace.
 */
export class AccessPolicyStore {
  private readonly entries = new Map<string, StoredAccessPolicy>();
  private readonly lastGood = new Map<string, AccessPolicySpec>();
  /** Policies applied, by namespace (valid specs, or the last valid one of an invalid policy). */
  private readonly appliedByNamespace = new Map<string, Map<string, AccessPolicyEntry>>();
  private readonly statuses = new Map<string, PolicyStatus>();
  private readonly access = new Map<string, ServiceAccess>();
  private readonly dirtyNamespaces = new Set<string>();

  constructor(readonly defaultMtls: MtlsMode = 'Permissive') {}

  upsert(object: AccessPolicyObject): void {
    const namespace = object.metadata.namespace ?? 'default';
    const created = creationTime(object.metadata.creationTimestamp);
    this.entries.set(objectKey(namespace, object.metadata.name), {
      namespace,
      name: object.metadata.name,
      object,
      ...(created !== undefined ? { created } : {}),
    });
    this.dirtyNamespaces.add(namespace);
  }

  reject(namespace: string, name: string, errors: string[], object: AccessPolicyObject | undefined): void {
    const key = objectKey(namespace, name);
    const entry: StoredAccessPolicy = this.entries.get(key) ?? { namespace, name };
    entry.created ??= creationTime(object?.metadata.creationTimestamp);
    entry.rejectedErrors = errors.length ? errors : ['the object failed schema validation'];
    entry.rejectedGeneration = object?.metadata.generation;
    this.entries.set(key, entry);
    this.dirtyNamespaces.add(namespace);
  }

  remove(namespace: string, name: string): void {
    const key = objectKey(namespace, name);
    this.entries.delete(key);
    this.lastGood.delete(key);
    this.dirtyNamespaces.add(namespace);
  }

  /** Whether a re-evaluation has anything to do beyond the given Services. */
  get pending(): boolean {
    return this.dirtyNamespaces.size > 0;
  }

  /**
   * Re-evaluates what the policy events since the last call and the changed Services touch:
   * statuses of the policies of those namespaces, and the access of their Services.
   */
  reevaluate(
    changedServices: Iterable<string>,
    lookup: ServiceLookup,
    servicesOf: (namespace: string) => ServiceInfo[],
    serviceByKey: (key: string) => ServiceInfo | undefined,
  ): AccessPolicyChange {
    const out: AccessPolicyChange = { services: new Set(), statuses: new Set() };
    const changed = [...changedServices];
    const namespaces = new Set(this.dirtyNamespaces);
    for (const key of changed) namespaces.add(key.slice(0, key.indexOf('/')));
    for (const namespace of namespaces) this.evaluateNamespace(namespace, lookup, out);
    // A policy change touches its whole namespace (namespace-wide policies); a Service change itself.
    const serviceKeys = new Set(changed);
    for (const namespace of this.dirtyNamespaces) for (const service of servicesOf(namespace)) serviceKeys.add(service.key);
    this.dirtyNamespaces.clear();
    for (const key of serviceKeys) {
      const service = serviceByKey(key);
      const before = this.access.get(key);
      if (!service) {
        if (this.access.delete(key)) out.services.add(key);
        continue;
      }
      const applied = this.appliedByNamespace.get(service.namespace);
      const next = serviceAccess(service, applied ? [...applied.values()] : NO_POLICIES, this.defaultMtls);
      // A Service seen for the first time (every one on the first batch) has changed without comparing.
      if (before === undefined || JSON.stringify(before) !== JSON.stringify(next)) out.services.add(key);
      this.access.set(key, next);
    }
    return out;
  }

  /** How a Service's workloads are served (the mesh default when no policy applies or the Service is unknown). */
  serviceAccess(serviceKey: string): ServiceAccess {
    return this.access.get(serviceKey) ?? { serviceKey, mtls: this.defaultMtls };
  }

  policy(namespace: string, name: string): AccessPolicyObject | undefined {
    return this.entries.get(objectKey(namespace, name))?.object;
  }

  status(namespace: string, name: string): PolicyStatus | undefined {
    return this.statuses.get(objectKey(namespace, name));
  }

  /** Every AccessPolicy's status, sorted by namespace/name. */
  allStatuses(): PolicyStatus[] {
    return [...this.statuses.entries()].sort(([a], [b]) => compare(a, b)).map(([, status]) => status);
  }

  private evaluateNamespace(namespace: string, lookup: ServiceLookup, out: AccessPolicyChange): void {
    const applied = new Map<string, AccessPolicyEntry>();
    const keys = [...this.statuses.keys(), ...this.entries.keys()].filter((key) => key.startsWith(`${namespace}/`));
    for (const key of new Set(keys)) {
      const entry = this.entries.get(key);
      const next = entry ? this.evaluate(key, entry, lookup, applied) : undefined;
      if (JSON.stringify(this.statuses.get(key)) !== JSON.stringify(next)) out.statuses.add(key);
      if (next) this.statuses.set(key, next);
      else this.statuses.delete(key);
    }
    if (applied.size > 0) this.appliedByNamespace.set(namespace, applied);
    else this.appliedByNamespace.delete(namespace);
  }

  /** One policy's status; records the spec it is applied with in `applied`. */
  private evaluate(key: string, entry: StoredAccessPolicy, lookup: ServiceLookup, applied: Map<string, AccessPolicyEntry>): PolicyStatus {
    const generation = (entry.rejectedErrors ? entry.rejectedGeneration : undefined) ?? entry.object?.metadata.generation;
    const conditions: Condition[] = [];
    const condition = (type: string, ok: boolean, reason: string, message: string) =>
      conditions.push(statusCondition(type, ok, reason, message, generation));
    const spec = entry.object?.spec;
    const issues = spec && !entry.rejectedErrors ? checkAccessPolicy(entry.namespace, spec, lookup) : undefined;
    const valid = issues !== undefined && issues.spec.length === 0;
    if (valid && spec) this.lastGood.set(key, spec);
    const appliedSpec = valid ? spec : this.lastGood.get(key);
    if (appliedSpec) {
      applied.set(key, {
        namespace: entry.namespace,
        name: entry.name,
        spec: appliedSpec,
        ...(entry.created !== undefined ? { created: entry.created } : {}),
      });
    }
    const meanwhile = appliedSpec
      ? '; the last valid spec of this policy stays applied'
      : '; the policy applies to nothing until it is fixed';
    if (entry.rejectedErrors) condition('Accepted', false, 'Invalid', entry.rejectedErrors.join('; ') + meanwhile);
    else if (issues && issues.spec.length > 0) condition('Accepted', false, 'Invalid', issues.spec.join('; ') + meanwhile);
    else condition('Accepted', true, 'Accepted', 'the policy is valid');
    if (issues) {
      if (issues.refs.length > 0) {
        const targetMissing = issues.refs.some((r) => r.startsWith('spec.targetRef.name'));
        condition('ResolvedRefs', false, targetMissing ? 'TargetNotFound' : 'PortNotFound', issues.refs.join('; '));
      } else {
        const target = spec?.targetRef?.name;
        condition(
          'ResolvedRefs',
          true,
          'ResolvedRefs',
          target ? `applies to Service ${entry.namespace}/${target}` : `applies to every Service of namespace ${entry.namespace}`,
        );
      }
    }
    return {
      namespace: entry.namespace,
      name: entry.name,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      conditions,
    };
  }
}

/** metadata.creationTimestamp in ms; undefined when absent or not a date. */
function creationTime(timestamp: unknown): number | undefined {
  if (typeof timestamp !== 'string') return undefined;
  const ms = Date.parse(timestamp);
  return Number.isNaN(ms) ? undefined : ms;
}
