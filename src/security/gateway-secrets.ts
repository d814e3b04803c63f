// Which gateway Secrets (TLS private keys) a client may receive over SDS. Claiming a gateway's
// group is not enough: the client must prove an identity, and that identity must be allowed the
// Secret, by an explicit map (--gateway-secret-access, the folder source's only way) or by the
// Kubernetes API (a SubjectAccessReview: may this service account `get` this Secret?).
// Without either, no client receives any Secret: the safe default.
import { log } from '../log.js';
import { parseSpiffeId, type PeerIdentity } from './identity.js';

/** Gateway name -> identities (SPIFFE IDs or DNS names of client certificates) allowed its
 * Secrets; `*` allows any client, with or without a certificate (local tests only). */
export type GatewaySecretAccess = Readonly<Record<string, readonly string[]>>;

/** The question put to the Kubernetes API: may this service account `get` this Secret? */
export interface SecretAccessQuestion {
  namespace: string;
  serviceAccount: string;
  secretNamespace: string;
  secretName: string;
}

export interface SecretAccessAnswer {
  allowed: boolean;
  /** The authorizer's reason, when it gave one. */
  reason?: string;
}

/** Asks the Kubernetes API (a SubjectAccessReview); rejects when the API cannot answer. */
export type SecretAccessReview = (question: SecretAccessQuestion) => Promise<SecretAccessAnswer>;

export type SecretAccessDecision = { allowed: true } | { allowed: false; pending: boolean; reason: string };

export interface GatewaySecretPolicyOptions {
  /** The explicit map; a gateway listed here is decided by it alone. */
  access?: GatewaySecretAccess;
  /** Asks Kubernetes for gateways not in the map. */
  review?: SecretAccessReview;
  /** SPIFFE IDs of other trust domains are not reviewed. */
  trustDomain?: string;
  /** How long an answer is used before it is asked again (default 60 s allowed, 10 s denied or failed). */
  allowedTtlMs?: number;
  deniedTtlMs?: number;
  /** Answers kept at most (oldest dropped first). Default 10000. */
  maxEntries?: number;
  now?: () => number;
}

interface CachedAnswer {
  allowed: boolean;
  reason: string;
  expiresAt: number;
}

const HOW_TO_GRANT =
  'serve xDS over mutual TLS (--tls-cert, --tls-key, --client-ca) with gateway certificates that carry their SPIFFE ID, ' +
  'and let the gateway\'s service account get the Secret (a Role with "get" on "secrets", resourceNames the Secret)';

export class GatewaySecretPolicy {
  private readonly answers = new Map<string, CachedAnswer>();
  private readonly asking = new Set<string>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: GatewaySecretPolicyOptions = {}) {}

  /** Whether the client `peer` (undefined: no verified certificate) may receive Secret `name`
   * (`<namespace>/<secret>`) of gateway `gateway`. A question not yet answered by Kubernetes is
   * `pending`: it is asked now, and `onSettled` listeners are called when the answer is in. */
  decide(gateway: string, peer: PeerIdentity | undefined, name: string): SecretAccessDecision {
    const access = this.options.access;
    if (access !== undefined && Object.prototype.hasOwnProperty.call(access, gateway)) return mapDecision(access[gateway], gateway, peer);
    const review = this.options.review;
    if (review === undefined) {
      return {
        allowed: false,
        pending: false,
        reason: `Secret ${name} withheld from gateway "${gateway}": no rule allows any client its Secrets; give --gateway-secret-access ${gateway}=<identity> (the SPIFFE ID or DNS name of the gateway's client certificate), or ${gateway}=* to serve them to any client (local tests only)`,
      };
    }
    if (!peer) {
      return {
        allowed: false,
        pending: false,
        reason: `Secret ${name} withheld from gateway "${gateway}": the connection has no verified client certificate, so Kubernetes cannot be asked whether its identity may read the Secret; ${HOW_TO_GRANT}`,
      };
    }
    const workloads = peer.uris.map(parseSpiffeId).filter((id) => id !== undefined);
    const trustDomain = this.options.trustDomain;
    const workload = workloads.find((id) => trustDomain === undefined || id.trustDomain === trustDomain);
    if (!workload) {
      return {
        allowed: false,
        pending: false,
        reason: `Secret ${name} withheld from gateway "${gateway}": the client certificate carries no SPIFFE ID spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>${trustDomain ? ` in trust domain "${trustDomain}"` : ''}, so there is no service account to ask Kubernetes about (URI SANs: ${peer.uris.join(', ') || 'none'})`,
      };
    }
    const slash = name.indexOf('/');
    const question: SecretAccessQuestion = {
      namespace: workload.namespace,
      serviceAccount: workload.serviceAccount,
      secretNamespace: name.slice(0, slash),
      secretName: name.slice(slash + 1),
    };
    const key = `${question.namespace}/${question.serviceAccount}|${name}`;
    const cached = this.answers.get(key);
    if (!cached || cached.expiresAt <= this.now()) {
      // An expired answer is not used: a revoked permission must not carry the next rotated key.
      // The proxy keeps what it holds meanwhile; only a newer version waits for the answer.
      this.ask(key, question);
      return {
        allowed: false,
        pending: true,
        reason: `Secret ${name} withheld from gateway "${gateway}" until Kubernetes answers whether service account ${question.namespace}/${question.serviceAccount} may get it`,
      };
    }
    if (cached.allowed) return { allowed: true };
    return { allowed: false, pending: false, reason: `Secret ${name} withheld from gateway "${gateway}": ${cached.reason}` };
  }

  /** A Secret changed (a rotation, a re-creation): its next version goes out only after a fresh answer. */
  forgetSecret(name: string): void {
    const suffix = `|${name}`;
    for (const key of this.answers.keys()) if (key.endsWith(suffix)) this.answers.delete(key);
  }

  /** Calls `listener` whenever an answer arrives that may change a decision; returns an unsubscribe. */
  onSettled(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private ask(key: string, question: SecretAccessQuestion): void {
    const review = this.options.review!;
    if (this.asking.has(key)) return;
    this.asking.add(key);
    const who = `service account ${question.namespace}/${question.serviceAccount}`;
    const what = `Secret ${question.secretNamespace}/${question.secretName}`;
    review(question)
      .then(
        (answer): Omit<CachedAnswer, 'expiresAt'> => ({
          allowed: answer.allowed,
          reason: answer.allowed
            ? ''
            : `Kubernetes says ${who} may not get ${what}${answer.reason ? ` (${answer.reason})` : ''}; to allow it, bind the service account to a Role with "get" on "secrets" (resourceNames: [${question.secretName}]) in namespace ${question.secretNamespace}`,
        }),
        (error: Error) => {
          log.warn('SubjectAccessReview failed; the Secret stays withheld and is asked again', { who, secret: what, error: error.message });
          return { allowed: false, reason: `the SubjectAccessReview for ${who} failed (${error.message}); it is retried` };
        },
      )
      .then((answer) => {
        this.asking.delete(key);
        const ttl = answer.allowed ? (this.options.allowedTtlMs ?? 60_000) : (this.options.deniedTtlMs ?? 10_000);
        this.answers.delete(key);
        this.answers.set(key, { ...answer, expiresAt: this.now() + ttl });
        while (this.answers.size > (this.options.maxEntries ?? 10_000)) this.answers.delete(this.answers.keys().next().value!);
        // Every answer may release a withheld resource (a pending one, or one whose answer expired).
        for (const listener of this.listeners) listener();
      });
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }
}

function mapDecision(allowed: readonly string[], gateway: string, peer: PeerIdentity | undefined): SecretAccessDecision {
  if (allowed.includes('*')) return { allowed: true };
  if (!peer) {
    return {
      allowed: false,
      pending: false,
      reason: `Secrets of gateway "${gateway}" are served only over mutual TLS to an allowed identity; the connection has no client certificate`,
    };
  }
  const held = [...peer.uris, ...peer.dnsNames];
  if (held.some((name) => allowed.includes(name))) return { allowed: true };
  return {
    allowed: false,
    pending: false,
    reason: `Secrets of gateway "${gateway}" are not for this client: certificate identities ${held.join(', ') || 'none'}; allowed: ${allowed.join(', ') || 'nobody'}`,
  };
}
