// A status condition as the model's processors write them (Kubernetes' metav1.Condition without
// its transition time, which the status writers add).
import type { Condition } from '../sources/types.js';

export function statusCondition(type: string, ok: boolean, reason: string, message: string, generation: number | undefined): Condition {
  return { type, status: ok ? 'True' : 'False', reason, message, ...(generation !== undefined ? { observedGeneration: generation } : {}) };
}
