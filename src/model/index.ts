export { MeshModel, objectKey, compare, SERVICE_NAME_LABEL } from './mesh-model.js';
export { checkPolicy } from './policy-check.js';
export { protoDuration } from './duration.js';
export { normalizePolicy, DEFAULT_RETRY_ON, HEALTH_CHECK_DEFAULTS } from './policy.js';
export * from './types.js';
