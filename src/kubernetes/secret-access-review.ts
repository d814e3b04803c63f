// The Kubernetes side of the gateway Secret rule: a SubjectAccessReview (authorization.k8s.io/v1)
// asks the API server whether a service account may `get` one Secret. The API server answers with
// its own authorizers (RBAC and whatever else the cluster runs), so the rule is exactly the one
// `kubectl auth can-i get secret/<name> --as system:serviceaccount:<ns>:<sa>` shows.
import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { errorText } from '../sources/kubernetes.js';
import type { SecretAccessQuestion, SecretAccessReview } from '../security/gateway-secrets.js';

/** A SecretAccessReview that creates SubjectAccessReviews through the kubeconfig's API server. */
export function kubernetesSecretAccessReview(kubeConfig: KubeConfig): SecretAccessReview {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  return async (question: SecretAccessQuestion) => {
    let review;
    try {
      review = await api.createSubjectAccessReview({ body: subjectAccessReview(question) });
    } catch (error) {
      throw new Error(errorText(error), { cause: error });
    }
    return { allowed: review.status?.allowed === true && review.status?.denied !== true, reason: review.status?.reason || undefined };
  };
}

/** The review's body: the user and groups Kubernetes gives a service account's token. */
export function subjectAccessReview(question: SecretAccessQuestion) {
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: `system:serviceaccount:${question.namespace}:${question.serviceAccount}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${question.namespace}`, 'system:authenticated'],
      resourceAttributes: {
        group: '',
        version: 'v1',
        resource: 'secrets',
        verb: 'get',
        namespace: question.secretNamespace,
        name: question.secretName,
      },
    },
  };
}
