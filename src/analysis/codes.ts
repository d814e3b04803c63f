// The problem codes: stable names scripts, alerts and `kubectl get events` may match on. Each
// has one severity. docs/problems.md explains every code (a test keeps the two in step).
import type { Severity } from './problem.js';

export const PROBLEM_CODES = {
  // ---- the files of a manifest folder
  YamlSyntaxError: 'error',
  FileUnreadable: 'error',
  InvalidDocument: 'error',
  DuplicateObject: 'warning',
  UnknownKind: 'warning',
  KindNotRead: 'info',
  // ---- one object's structure (the kind's schema, the CRD)
  SchemaViolation: 'error',
  // ---- TrafficPolicy meaning
  PolicyInvalid: 'error',
  PolicyTargetNotFound: 'error',
  PolicyBackendNotFound: 'error',
  PolicyConflict: 'error',
  WeightsNotHundred: 'warning',
  ConnectionLimitUnused: 'warning',
  // ---- AccessPolicy meaning
  AccessPolicyInvalid: 'error',
  AccessPolicyRefNotFound: 'error',
  // ---- Mutual TLS under Strict (an AccessPolicy's, or the mesh default's)
  StrictPodWithoutCertificate: 'error',
  StrictServiceMixedTls: 'error',
  // ---- Ingress references
  IngressServiceNotFound: 'error',
  IngressPortNotFound: 'error',
  IngressBackendUnsupported: 'error',
  IngressSecretNotFound: 'error',
  IngressSecretInvalid: 'error',
  // ---- Gateway API (the reasons the objects' status carries)
  GatewayListenerNotServed: 'error',
  GatewayListenerPartlyServed: 'warning',
  GatewayRouteNotAccepted: 'error',
  GatewayRouteRefsNotResolved: 'error',
  // ---- Sidecar egress scopes
  EgressScopeInvalid: 'error',
  PodEgressScopeInvalid: 'error',
  // ---- Services and endpoints
  OutboundAddressConflict: 'warning',
  EndpointPortUnmatched: 'warning',
  EndpointPortWithoutNumber: 'warning',
  EndpointSliceServiceNotFound: 'warning',
  // ---- the translator (src/pipeline/: a part that fails keeps its last good configuration)
  TranslationFailed: 'error',
} as const satisfies Record<string, Severity>;

export type ProblemCode = keyof typeof PROBLEM_CODES;

export function severityOf(code: ProblemCode): Severity {
  return PROBLEM_CODES[code];
}
