// The injection webhook's certificate when none is mounted: Switchyard makes a CA and a serving
// certificate for the webhook Service's DNS names and keeps them in one Secret in its own
// namespace, so every replica serves the same pair (the API server may call any of them). The
// first replica to find the Secret missing creates it (a create that loses the race gets 409 and
// reads the winner's); a serving certificate that nears its end is re-issued from the same CA, so
// the caBundle does not change. The leader keeps every webhook's caBundle in the
// MutatingWebhookConfiguration equal to the CA, and writes only when it differs.
import { X509Certificate } from 'node:crypto';
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { createCertificateAuthority, issueCertificate, loadCertificateAuthority } from '../security/certificates.js';
import type { ServingCertificate } from '../injection/server.js';
import type { LeaderSignals } from './leader.js';
import { log } from '../log.js';

export interface InjectionCertificateOptions {
  kubeConfig: KubeConfig;
  /** The control plane's namespace: the Secret's, and the webhook Service's. */
  namespace: string;
  secretName: string;
  /** The webhook Service: the certificate is for <service>.<namespace>.svc (and .cluster.local). */
  serviceName: string;
  /** The MutatingWebhookConfiguration whose caBundle the leader keeps. */
  webhookConfiguration: string;
  leader: LeaderSignals;
  /** How often the Secret (a rotation by another replica) and the caBundle are checked. Default 60 s. */
  checkIntervalMs?: number;
  /** A serving certificate this close to its end is re-issued. Default 30 days. */
  renewBeforeMs?: number;
  /** Validity of a new serving certificate. Default 365 days. */
  validDays?: number;
}

export interface SharedCertificate extends ServingCertificate {
  /** PEM CA certificate: the webhook configuration's caBundle. */
  ca: string;
}

function code(error: unknown): number | undefined {
  const value = (error as { code?: unknown } | undefined)?.code;
  return typeof value === 'number' ? value : undefined;
}

const KEYS = { ca: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

const decode = (secret: V1Secret, key: string) =>
  secret.data?.[key] ? Buffer.from(secret.data[key], 'base64').toString('utf8') : undefined;
const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64');

export class InjectionCertificate {
  readonly dnsNames: string[];
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private current: SharedCertificate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onRotated: ((certificate: SharedCertificate) => void) | undefined;
  private readonly onLeading = () => void this.syncCaBundle().catch(() => undefined);
  private missingConfigurationLogged = false;

  constructor(private readonly options: InjectionCertificateOptions) {
    const host = `${options.serviceName}.${options.namespace}.svc`;
    this.dnsNames = [host, `${host}.cluster.local`];
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.admission = options.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  }

  /** The pair to serve: the Secret's, after creating it or renewing its certificate when needed. */
  async load(): Promise<SharedCertificate> {
    const { namespace, secretName: name } = this.options;
    for (let attempt = 0; attempt < 5; attempt++) {
      let secret: V1Secret | undefined;
      try {
        secret = await this.core.readNamespacedSecret({ name, namespace });
      } catch (error) {
        if (code(error) !== 404)
          throw new Error(`injection certificate: reading Secret ${namespace}/${name}: ${(error as Error).message}`, { cause: error });
      }
      const usable = secret && this.usable(secret);
      if (usable) return (this.current = usable);
      const next = this.issue(secret);
      const body: V1Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: {
          name,
          namespace,
          labels: { 'app.kubernetes.io/name': 'switchyard' },
          resourceVersion: secret?.metadata?.resourceVersion,
        },
        data: next.data,
      };
      try {
        if (secret) await this.core.replaceNamespacedSecret({ name, namespace, body });
        else await this.core.createNamespacedSecret({ namespace, body });
        log.info('injection certificate written', { secret: `${namespace}/${name}`, renewed: secret !== undefined });
        return (this.current = next.certificate);
      } catch (error) {
        // Another replica wrote it first: use theirs.
        if (code(error) === 409) continue;
        throw new Error(`injection certificate: writing Secret ${namespace}/${name}: ${(error as Error).message}`, { cause: error });
      }
    }
    throw new Error(`injection certificate: Secret ${namespace}/${name} kept changing under us; giving up`);
  }

  /** Re-reads the Secret every check interval (handing a changed pair to `onRotated`) and, while leading, syncs the caBundle. */
  start(onRotated: (certificate: SharedCertificate) => void): void {
    this.onRotated = onRotated;
    this.options.leader.on('started', this.onLeading);
    if (this.options.leader.isLeader()) this.onLeading();
    this.timer = setInterval(() => void this.check(), this.options.checkIntervalMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.options.leader.off('started', this.onLeading);
  }

  /** One round of what the timer does. */
  async check(): Promise<void> {
    try {
      const before = this.current?.cert;
      const loaded = await this.load();
      if (loaded.cert !== before) this.onRotated?.(loaded);
      if (this.options.leader.isLeader()) await this.syncCaBundle();
    } catch (error) {
      log.warn('injection certificate check failed; serving the last one', { error: (error as Error).message });
    }
  }

  /** Sets every webhook's caBundle to the CA when one differs. True when it wrote. */
  async syncCaBundle(): Promise<boolean> {
    if (!this.current || !this.options.leader.isLeader()) return false;
    const name = this.options.webhookConfiguration;
    const caBundle = encode(this.current.ca);
    try {
      const configuration = await this.admission.readMutatingWebhookConfiguration({ name });
      const webhooks = configuration.webhooks ?? [];
      if (webhooks.every((webhook) => webhook.clientConfig.caBundle === caBundle)) return false;
      for (const webhook of webhooks) webhook.clientConfig.caBundle = caBundle;
      // The read's resourceVersion rides along: a concurrent change makes this a 409, retried next check.
      await this.admission.replaceMutatingWebhookConfiguration({ name, body: configuration });
      log.info('injection webhook caBundle updated', { configuration: name, webhooks: webhooks.length });
      return true;
    } catch (error) {
      if (code(error) === 404) {
        if (!this.missingConfigurationLogged)
          log.warn('MutatingWebhookConfiguration not found; no caBundle to keep', { configuration: name });
        this.missingConfigurationLogged = true;
        return false;
      }
      log.warn('injection webhook caBundle update failed; retried at the next check', {
        configuration: name,
        error: (error as Error).message,
      });
      throw error;
    }
  }

  /** The Secret's pair when it is complete, for our DNS names, and not near its end. */
  private usable(secret: V1Secret): SharedCertificate | undefined {
    const [ca, caKey, cert, key] = [KEYS.ca, KEYS.caKey, KEYS.cert, KEYS.key].map((k) => decode(secret, k));
    if (!ca || !caKey || !cert || !key) return undefined;
    try {
      const parsed = new X509Certificate(cert);
      const renewBefore = this.options.renewBeforeMs ?? 30 * 24 * 3600 * 1000;
      if (new Date(parsed.validTo).getTime() - Date.now() < renewBefore) return undefined;
      if (!this.dnsNames.every((dns) => parsed.checkHost(dns) === dns)) return undefined;
      if (!parsed.verify(new X509Certificate(ca).publicKey)) return undefined;
      return { ca, cert, key };
    } catch {
      return undefined;
    }
  }

  /** A new serving pair, from the Secret's CA when it is still good (so the caBundle stays), else from a new CA. */
  private issue(secret: V1Secret | undefined): { certificate: SharedCertificate; data: Record<string, string> } {
    const caPem = secret ? decode(secret, KEYS.ca) : undefined;
    const caKeyPem = secret ? decode(secret, KEYS.caKey) : undefined;
    let authority;
    try {
      const validFor = caPem ? new Date(new X509Certificate(caPem).validTo).getTime() - Date.now() : 0;
      authority =
        caPem && caKeyPem && validFor > 2 * (this.options.validDays ?? 365) * 24 * 3600 * 1000
          ? loadCertificateAuthority(caPem, caKeyPem)
          : undefined;
    } catch {
      authority = undefined;
    }
    // Ten years: the CA is kept while it outlives two server certificates, so the caBundle rarely changes.
    authority ??= createCertificateAuthority({ commonName: `switchyard injection CA (${this.options.namespace})`, days: 3650 });
    const served = issueCertificate(authority, { dnsNames: this.dnsNames, days: this.options.validDays ?? 365, usage: 'server' });
    return {
      certificate: { ca: authority.cert, ...served },
      data: {
        [KEYS.ca]: encode(authority.cert),
        [KEYS.caKey]: encode(authority.key),
        [KEYS.cert]: encode(served.cert),
        [KEYS.key]: encode(served.key),
      },
    };
  }
}
