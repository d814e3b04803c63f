// `switchyard serve`: run the control plane until SIGTERM or SIGINT, then shut down
// gracefully (stop accepting streams, let in-flight writes finish) and exit 0.
import { startSwitchyard } from './app.js';
import { FilesSource } from './sources/files.js';
import { translateSettings, type FlagValues } from './config.js';
import { log } from './log.js';

export async function serve(values: FlagValues): Promise<number> {
  const manifests = values.manifests as string;
  const app = await startSwitchyard({
    sources: [new FilesSource(manifests)],
    xdsHost: values.xdsAddress as string,
    xdsPort: values.xdsPort as number,
    adminHost: values.adminAddress as string,
    adminPort: values.adminPort as number,
    debounce: { quietMs: values.debounceQuietMs as number, maxMs: values.debounceMaxMs as number },
    gateways: values.gateways as string[],
    translate: translateSettings(values),
  });
  log.info('switchyard serving', { manifests, xdsPort: app.xdsPort, adminPort: app.adminPort });
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info('shutting down', { signal });
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      app.stop().then(
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
