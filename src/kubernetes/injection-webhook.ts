// Runs the injection webhook in Kubernetes mode: its HTTPS server, with the certificate from a
// mounted directory (re-read when it changes) or generated and shared through a Secret, whose CA
// the leader keeps in the MutatingWebhookConfiguration's caBundle.
import type { KubeConfig } from '@kubernetes/client-node';
import { readCertificateDir, startInjectionServer, watchCertificateDir, type InjectionServer } from '../injection/server.js';
import type { InjectionModeSettings } from '../injection/flags.js';
import { InjectionCertificate } from './injection-certificate.js';
import type { LeaderSignals } from './leader.js';
import { log } from '../log.js';

export interface InjectionWebhook {
  server: InjectionServer;
  /** Set when the certificate is generated (no --injection-cert-dir). */
  certificate?: InjectionCertificate;
  stop(): Promise<void>;
}

export async function startInjectionWebhook(
  settings: InjectionModeSettings,
  kubeConfig: KubeConfig,
  leader: LeaderSignals,
  namespace: string,
): Promise<InjectionWebhook> {
  const { host, port } = settings;
  if (settings.certDir) {
    const server = await startInjectionServer({
      host,
      port,
      settings: settings.settings,
      certificate: readCertificateDir(settings.certDir),
    });
    const stopWatching = watchCertificateDir(settings.certDir, (pair) => server.setCertificate(pair));
    log.info('injection webhook serving', { port: server.port, certificate: settings.certDir });
    return {
      server,
      async stop() {
        stopWatching();
        await server.close();
      },
    };
  }
  const certificate = new InjectionCertificate({
    kubeConfig,
    namespace,
    secretName: settings.secretName,
    serviceName: settings.serviceName,
    webhookConfiguration: settings.webhookConfiguration,
    leader,
  });
  const server = await startInjectionServer({ host, port, settings: settings.settings, certificate: await certificate.load() });
  certificate.start((pair) => server.setCertificate(pair));
  log.info('injection webhook serving', { port: server.port, certificate: `Secret ${namespace}/${settings.secretName}` });
  return {
    server,
    certificate,
    async stop() {
      certificate.stop();
      await server.close();
    },
  };
}
