// The load-balancing choice of every Service port, logged when it is first made and whenever
// the policy or its reason changes (Auto's choice moves with the endpoints), so an operator can
// see from the logs why a Service balances as it does. The first snapshot is summed up in one
// line (per-port lines at debug): a mesh of 10,000 Services would otherwise start with 10,000.
import type { MeshModel, ModelChange, ServiceInfo } from '../model/index.js';
import { lbChoiceFor, type LbChoice, type TranslateOptions } from '../translate/index.js';
import { log } from '../log.js';

/** A port and the choice last logged for it. */
interface LoggedPort {
  port: number;
  choice: LbChoice;
}

export class LbChoiceLog {
  /**
   * Per Service key: its ports' choices as last logged. A short list, not a map or a record by
   * port number (which V8 keeps as a hash table): 10,000 of them are kept from start-up on.
   */
  private readonly logged = new Map<string, LoggedPort[]>();

  /** Logs the choices a model change may have moved. */
  update(model: MeshModel, change: ModelChange, options: TranslateOptions): void {
    const first = this.logged.size === 0;
    // Asked once: a debug line filtered out still costs winston its formatting, 10,000 times at start.
    const debug = log.isDebugEnabled();
    const counts: Record<string, number> = {};
    if (change.all) {
      // Every Service the model has, taken as they are (not looked up by key); those gone are forgotten.
      for (const key of this.logged.keys()) if (!model.service(key)) this.logged.delete(key);
      for (const service of model.services()) this.logService(model, service, options, first, debug, counts);
    } else {
      for (const key of new Set([...change.services, ...change.endpoints])) {
        const service = model.service(key);
        if (service) this.logService(model, service, options, first, debug, counts);
        else this.logged.delete(key);
      }
    }
    if (first && Object.keys(counts).length > 0) {
      log.info('load balancing chosen for every Service port (each one at debug level; changes from now on at info)', { policies: counts });
    }
  }

  /** Logs one Service's ports whose choice moved, and counts them by policy. */
  private logService(
    model: MeshModel,
    service: ServiceInfo,
    options: TranslateOptions,
    first: boolean,
    debug: boolean,
    counts: Record<string, number>,
  ): void {
    const key = service.key;
    const before = this.logged.get(key);
    const after: LoggedPort[] = [];
    for (const port of service.ports) {
      const choice = lbChoiceFor(model, service, port, options);
      after.push({ port: port.port, choice });
      const last = before?.find((logged) => logged.port === port.port)?.choice;
      if (last?.policy === choice.policy && last.reason === choice.reason) continue;
      const line = { service: key, port: port.port, policy: choice.policy, reason: choice.reason };
      if (!first) log.info('load balancing chosen', line);
      else if (debug) log.debug('load balancing chosen', line);
      counts[choice.policy] = (counts[choice.policy] ?? 0) + 1;
    }
    this.logged.set(key, after);
  }
}
