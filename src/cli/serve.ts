// `switchyard serve`: run the control plane until SIGTERM or SIGINT, then shut down
// gracefully (stop accepting streams, let in-flight writes finish) and exit 0. The source is
// a folder of manifests (watched), or with --kubernetes the cluster itself.
import { startSwitchyard, type SwitchyardOptions } from '../app.js';
import { FilesSource } from '../sources/files.js';
import { translateSettings, UsageError, type FlagValues } from './flags.js';
import { xdsSecuritySettings } from '../security/flags.js';
import { log } from '../log.js';

export async function serve(values: FlagValues): Promise<number> {
  const options: Omit<SwitchyardOptions, 'sources'> = {
    xdsHost: values.xdsAddress as string,
    xdsPort: values.xdsPort as number,
    adminHost: values.adminAddress as string,
    adminPort: values.adminPort as number,
    debounce: { quietMs: values.debounceQuietMs as number, maxMs: values.debounceMaxMs as number },
    gateways: values.gateways as string[],
    translate: translateSettings(values),
    xdsSecurity: xdsSecuritySettings(values),
  };
  let stop: () => Promise<void>;
  if (values.injection === true && !values.kubernetes) {
    throw new UsageError('--injection needs --kubernetes: the webhook is called by the Kubernetes API server');
  }
  if (values.kubernetes) {
    const { startKubernetesMode } = await import('../kubernetes/mode.js');
    const { kubernetesModeSettings } = await import('../sources/kube-flags.js');
    const { injectionModeSettings } = await import('../injection/flags.js');
    const settings = kubernetesModeSettings(values);
    const injection = injectionModeSettings(values, settings.lease.namespace);
    const mode = await startKubernetesMode({ ...settings, ...options, injection });
    log.info('switchyard serving the cluster', { xdsPort: mode.app.xdsPort, adminPort: mode.app.adminPort });
    stop = () => mode.stop();
  } else {
    const manifests = values.manifests as string;
    const app = await startSwitchyard({ ...options, sources: [new FilesSource(manifests)] });
    log.info('switchyard serving a folder', { manifests, xdsPort: app.xdsPort, adminPort: app.adminPort });
    stop = () => app.stop();
  }
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info('shutting down', { signal });
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      stop().then(
        () => resolve(0),
        (error: Error) => {
          log.error('shutdown failed', { error: error.message });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
