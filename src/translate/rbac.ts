// Who may call whom: a Service's AccessPolicy rules as Envoy's RBAC filters — the HTTP filter
// (envoy.filters.http.rbac, also gRFC A41's shape for proxyless gRPC servers) for HTTP ports and
// the network filter (envoy.filters.network.rbac) for TCP ports. Callers are identified by the
// URI SAN of their verified client certificate (the authenticated principal), so a rule naming
// identities admits nobody over plain text.
import type { AccessRule, ServiceAccess } from '../model/index.js';

const HTTP_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const NETWORK_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
export const HTTP_RBAC_FILTER = 'envoy.filters.http.rbac';
export const NETWORK_RBAC_FILTER = 'envoy.filters.network.rbac';
/** Shadow (DryRun) decisions count under this stat prefix, beside the enforced ones. */
export const SHADOW_STAT_PREFIX = 'dry_run_';

type Json = Record<string, unknown>;

/** RE2 text matching `text` literally. */
function literal(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

function anyOf<T extends Json>(items: T[], key: 'orIds' | 'orRules'): Json {
  if (items.length === 1) return items[0];
  return key === 'orIds' ? { orIds: { ids: items } } : { orRules: { rules: items } };
}

/** Who a rule admits. */
function principal(rule: AccessRule, trustDomain: string): Json {
  if (!rule.from) return { any: true };
  const ids: Json[] = [
    ...rule.from.namespaces.map((ns) => ({
      authenticated: { principalName: { safeRegex: { regex: `spiffe://${literal(trustDomain)}/ns/${literal(ns)}/sa/[^/]+` } } },
    })),
    ...rule.from.serviceAccounts.map((sa) => ({
      authenticated: { principalName: { exact: `spiffe://${trustDomain}/ns/${sa.namespace}/sa/${sa.name}` } },
    })),
    ...rule.from.spiffeIds.map((id) => ({ authenticated: { principalName: { exact: id } } })),
  ];
  return anyOf(ids, 'orIds');
}

function hasHttpConditions(rule: AccessRule): boolean {
  return rule.to.paths.length > 0 || rule.to.methods.length > 0 || rule.to.headers.length > 0;
}

/** What a rule opens: every non-empty list must match, any entry of it. */
function permission(rule: AccessRule): Json {
  const all: Json[] = [];
  const { ports, paths, methods, headers } = rule.to;
  if (ports.length > 0)
    all.push(
      anyOf(
        ports.map((port) => ({ destinationPort: port })),
        'orRules',
      ),
    );
  if (paths.length > 0)
    all.push(
      anyOf(
        paths.map((p) => ({ urlPath: { path: { [p.kind]: p.value } } })),
        'orRules',
      ),
    );
  if (methods.length > 0)
    all.push(
      anyOf(
        methods.map((m) => ({ header: { name: ':method', stringMatch: { exact: m } } })),
        'orRules',
      ),
    );
  for (const header of headers) {
    const match = header.kind === 'present' ? { presentMatch: true } : { stringMatch: { [header.kind]: header.value ?? '' } };
    all.push({ header: { name: header.name.toLowerCase(), ...match } });
  }
  if (all.length === 0) return { any: true };
  return all.length === 1 ? all[0] : { andRules: { rules: all } };
}

/** An ALLOW RBAC of these rules: a request no rule admits is denied (an empty list denies everything). */
function allowRules(rules: readonly AccessRule[], trustDomain: string): Json {
  return {
    action: 'ALLOW',
    policies: Object.fromEntries(
      rules.map((rule) => [rule.name, { permissions: [permission(rule)], principals: [principal(rule, trustDomain)] }]),
    ),
  };
}

/** Nothing enforced: a DENY with no policies denies nothing (gRPC requires `rules`, Envoy accepts it). */
const ENFORCE_NOTHING: Json = { action: 'DENY' };

/** The rules and shadow rules of an RBAC config; undefined when the Service has neither. */
function rbacConfig(access: ServiceAccess, trustDomain: string, keep: (rule: AccessRule) => boolean): Json | undefined {
  if (!access.rules && !access.shadowRules) return undefined;
  return {
    rules: access.rules ? allowRules(access.rules.filter(keep), trustDomain) : ENFORCE_NOTHING,
    ...(access.shadowRules
      ? { shadowRules: allowRules(access.shadowRules.filter(keep), trustDomain), shadowRulesStatPrefix: SHADOW_STAT_PREFIX }
      : {}),
  };
}

/**
 * The HTTP RBAC filter of a Service's inbound HTTP chains (before the router), or undefined when no
 * policy has rules for it. Proxyless gRPC servers read the same config (gRFC A41; they ignore shadow rules).
 */
export function httpRbacFilter(access: ServiceAccess, trustDomain: string): Json | undefined {
  const config = rbacConfig(access, trustDomain, () => true);
  return config ? { name: HTTP_RBAC_FILTER, typedConfig: { '@type': HTTP_RBAC_TYPE, ...config } } : undefined;
}

/**
 * The network RBAC filter of a Service's inbound TCP chains (before tcp_proxy), or undefined when no
 * policy has rules for it. A rule with HTTP conditions (paths, methods, headers) cannot be checked
 * on a TCP stream, so it admits nothing there.
 */
export function networkRbacFilter(access: ServiceAccess, trustDomain: string, statPrefix: string): Json | undefined {
  const config = rbacConfig(access, trustDomain, (rule) => !hasHttpConditions(rule));
  return config ? { name: NETWORK_RBAC_FILTER, typedConfig: { '@type': NETWORK_RBAC_TYPE, statPrefix, ...config } } : undefined;
}
