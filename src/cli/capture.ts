// `switchyard capture`: the sidecar's traffic capture rules, printed for a person to read, or with
// --apply installed in the current network namespace (an injected pod's init container does that).
import { applyCaptureRules, captureRules } from '../injection/capture.js';
import { captureSettings } from '../injection/flags.js';
import type { FlagValues } from './flags.js';
import { log } from '../log.js';

export async function capture(
  values: FlagValues,
  write: (text: string) => unknown = (text) => process.stdout.write(text),
): Promise<number> {
  const rules = captureRules(captureSettings(values));
  if (values.apply !== true) {
    write(rules);
    return 0;
  }
  applyCaptureRules(rules);
  log.info('capture rules installed', { outboundPort: values.outboundPort, inboundPort: values.inboundPort, proxyUid: values.proxyUid });
  return 0;
}
