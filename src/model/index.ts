export { MeshModel, objectKey, portProtocol, policyBackends, compare, SERVICE_NAME_LABEL } from './mesh-model.js';
export { checkPolicy, MAGLEV_MAX_TABLE_SIZE, RING_HASH_MAX_SIZE, RETRY_ON_CONDITIONS } from './policy-check.js';
export { parseDuration, protoDuration } from './duration.js';
export { normalizePolicy, toServicePolicy, DEFAULT_RETRY_ON, HEALTH_CHECK_DEFAULTS } from './policy.js';
export { TLS_SECRET_TYPE } from './secret.js';
export { DEFAULT_CLASS_ANNOTATION, GATEWAY_ANNOTATION, LEGACY_CLASS_ANNOTATION, SSL_REDIRECT_ANNOTATION } from './ingress.js';
export * from './types.js';
