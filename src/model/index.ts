export {
  MeshModel,
  objectKey,
  compare,
  SERVICE_NAME_LABEL,
  type MeshDestinationInfo,
  type MeshRolloutInfo,
  type StrictTlsGap,
} from './mesh-model.js';
export { checkPolicy } from './policy-check.js';
export { protoDuration } from './duration.js';
export { normalizePolicy, DEFAULT_RETRY_ON, HEALTH_CHECK_DEFAULTS } from './policy.js';
export { DEFAULT_INGRESS_CLASS, INGRESS_CONTROLLER, isOurIngress, ourIngressClasses } from './ingress.js';
export { addressKey, serviceAddresses, type AddressConflict, type ServiceAddress, type ServiceAddresses } from './addresses.js';
export { EGRESS_ANNOTATION, describeScope, parseEgress, scopeHolds, type EgressHost, type EgressScope } from './scope.js';
export {
  selects,
  terminatesMeshTls,
  MESH_TLS_ANNOTATION,
  PROXYLESS_TLS_ANNOTATION,
  PROXYLESS_TLS_VALUE,
  type InboundPort,
  type WorkloadInfo,
  type WorkloadShape,
} from './workload.js';
export * from './types.js';
export { GATEWAY_CONTROLLER, GATEWAY_NAME_LABEL, intersectHostnames, comparePrecedence } from './gateway-api.js';
export type {
  GatewayApiResolution,
  GatewayInfo,
  GatewayListenerInfo,
  GatewayRouteRule,
  GatewayRouteMatch,
  GatewayPathMatch,
  GatewayBackend,
  GatewayRuleFilters,
  HeaderModifier,
  RouteStatusInfo,
  ListenerStatusInfo,
  GatewayClassStatusInfo,
} from './gateway-api.js';
export { checkAccessPolicy, effectiveAccess, serviceAccess, policiesFor, MTLS_MODES } from './access-policy.js';
export type { AccessPolicyEntry, AccessRule, AccessSource, MtlsMode, ServiceAccess } from './access-policy.js';
