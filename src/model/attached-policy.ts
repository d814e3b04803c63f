// TrafficPolicies attached to Gateway API objects (targetRef kind HTTPRoute, GRPCRoute or Gateway, the
// policy-attachment pattern): each carries a rate limit only. This resolves them against the
// Gateway API objects: the target must exist and be served by us, one policy wins a target
// (the first in precedence order, as for Services), and the winners' limits are what the
// translator reads. Statuses take the TrafficPolicy's conditions (Accepted, ResolvedRefs, Programmed).
import { statusCondition } from './conditions.js';
import type { Condition, TrafficPolicySpec } from '../sources/types.js';
import { requestLimit } from './policy.js';
import type { AttachedRateLimit, PolicyStatus } from './types.js';

export type AttachedKind = 'HTTPRoute' | 'GRPCRoute' | 'Gateway';

export interface AttachedTarget {
  kind: AttachedKind;
  name: string;
  /** Gateway only: one listener. */
  sectionName?: string;
}

export interface AttachedPolicyEntry {
  /** `<namespace>/<name>` of the TrafficPolicy. */
  key: string;
  namespace: string;
  name: string;
  generation?: number;
  /** The current spec when it passed the schema. */
  spec?: TrafficPolicySpec;
  /** What checkPolicy found wrong with `spec`. */
  specIssues: string[];
  /** Schema errors of the newest version, when it was rejected. */
  rejectedErrors?: string[];
  /** The target as the newest version (valid or rejected) names it. */
  target?: AttachedTarget;
}

/** Why a target in `namespace` is not one we serve, or undefined when it is. */
export type TargetProblem = (namespace: string, target: AttachedTarget) => string | undefined;

export interface AttachedPolicies {
  /** By `attachedTargetKey`: the winning policy's limit. */
  limits: Map<string, AttachedRateLimit>;
  statuses: Map<string, PolicyStatus>;
}

/** `HTTPRoute <ns>/<name>`, `GRPCRoute <ns>/<name>`, `Gateway <ns>/<name>` (every listener) or `Gateway <ns>/<name> <listener>`. */
export function attachedTargetKey(kind: AttachedKind, routeOrGatewayKey: string, sectionName?: string): string {
  return `${kind} ${routeOrGatewayKey}${sectionName !== undefined ? ` ${sectionName}` : ''}`;
}

function describe(namespace: string, target: AttachedTarget): string {
  const listener = target.kind === 'Gateway' && target.sectionName !== undefined ? ` listener ${target.sectionName}` : '';
  return `${target.kind} ${namespace}/${target.name}${listener}`;
}

/**
 * Resolves policies given in precedence order (first wins a target). `lastGood` holds each
 * policy's last valid spec; it is updated here and kept serving while a newer spec is invalid.
 */
export function resolveAttachedPolicies(
  entries: AttachedPolicyEntry[],
  targetProblem: TargetProblem,
  lastGood: Map<string, TrafficPolicySpec>,
): AttachedPolicies {
  const limits = new Map<string, AttachedRateLimit>();
  const owners = new Map<string, string>();
  const statuses = new Map<string, PolicyStatus>();
  for (const entry of entries) {
    const conditions: Condition[] = [];
    const { generation } = entry;
    statuses.set(entry.key, {
      namespace: entry.namespace,
      name: entry.name,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      conditions,
    });
    const condition = (type: string, ok: boolean, reason: string, message: string) =>
      conditions.push(statusCondition(type, ok, reason, message, generation));

    const target = entry.target;
    const targetKey = target ? attachedTargetKey(target.kind, `${entry.namespace}/${target.name}`, target.sectionName) : undefined;
    const problem = target ? targetProblem(entry.namespace, target) : 'spec.targetRef.name: missing';
    const previousOwner = targetKey ? owners.get(targetKey) : undefined;
    const label = target ? describe(entry.namespace, target) : '';

    if (entry.rejectedErrors) condition('Accepted', false, 'Invalid', entry.rejectedErrors.join('; '));
    else if (entry.specIssues.length) condition('Accepted', false, 'Invalid', entry.specIssues.join('; '));
    else if (previousOwner) {
      condition(
        'Accepted',
        false,
        'Conflicted',
        `spec.targetRef: ${label} is limited by TrafficPolicy ${previousOwner}, which wins: only one policy applies per target, ` +
          'the oldest by metadata.creationTimestamp, then by namespace/name (a policy without a creationTimestamp comes after those with one)',
      );
    } else condition('Accepted', true, 'Accepted', 'the policy is valid');
    // A rejected version says nothing reliable about its references (as for Service targets).
    if (!entry.rejectedErrors) {
      if (problem) condition('ResolvedRefs', false, 'TargetNotFound', problem);
      else condition('ResolvedRefs', true, 'ResolvedRefs', `${label} exists and is served by Switchyard`);
    }

    if (!targetKey || problem || previousOwner) {
      condition('Programmed', false, previousOwner ? 'Conflicted' : 'TargetNotFound', 'the policy is not applied to anything');
      continue;
    }
    owners.set(targetKey, entry.key);
    const valid = !entry.rejectedErrors && entry.spec !== undefined && entry.specIssues.length === 0;
    const spec = valid ? entry.spec : lastGood.get(entry.key);
    const sameTarget =
      spec !== undefined &&
      spec.targetRef.kind === target!.kind &&
      spec.targetRef.name === target!.name &&
      spec.targetRef.sectionName === target!.sectionName;
    if (valid && entry.spec) lastGood.set(entry.key, entry.spec);
    const limit = spec?.rateLimit ? requestLimit(spec.rateLimit) : undefined;
    if (limit && sameTarget) {
      limits.set(targetKey, { policyKey: entry.key, limit });
      if (valid) condition('Programmed', true, 'Programmed', `applied to ${label}`);
      else condition('Programmed', false, 'LastGoodKept', `${label} keeps this policy's last valid rate limit`);
    } else {
      condition('Programmed', false, 'DefaultsInUse', `${label} has no rate limit of its own until the policy is fixed`);
    }
  }
  return { limits, statuses };
}
