// Where each Service port is reached on the network: its cluster IP and port, or for a headless
// Service each endpoint's pod IP and port. A captured connection is recognised by this address
// (its original destination), so two Service ports may never share one; the first by Service key
// keeps it and the others are conflicts (the analysis reports them, the sidecar leaves them out).
import { isIP } from 'node:net';
import { compare } from './keys.js';
import type { EndpointInfo, ServiceInfo, ServicePortInfo } from './types.js';

export interface ServiceAddress {
  /** An IPv4 or IPv6 address. */
  ip: string;
  port: number;
  service: ServiceInfo;
  servicePort: ServicePortInfo;
  /** A headless Service's endpoint (pod IP and target port): traffic goes to exactly that pod. */
  headless: boolean;
}

export interface AddressConflict {
  address: ServiceAddress;
  /** The Service port that keeps the address. */
  owner: ServiceAddress;
}

export interface ServiceAddresses {
  /** One per distinct ip:port, in Service key order then port order. */
  owned: ServiceAddress[];
  conflicts: AddressConflict[];
}

/** What the address table reads of the model. */
interface AddressSource {
  services(): ServiceInfo[];
  endpoints(serviceKey: string, port: ServicePortInfo): readonly EndpointInfo[];
}

export function addressKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * Every Service port's addresses. Two headless Services selecting the same pods name the same
 * pod IP and port: both mean "that pod", so the second is no conflict and is merged.
 */
export function serviceAddresses(model: AddressSource): ServiceAddresses {
  const byKey = new Map<string, ServiceAddress>();
  const owned: ServiceAddress[] = [];
  const conflicts: AddressConflict[] = [];
  for (const service of model.services()) {
    for (const servicePort of [...service.ports].sort((a, b) => a.port - b.port)) {
      const addresses: ServiceAddress[] = [];
      if (service.clusterIP !== undefined) {
        addresses.push({ ip: service.clusterIP, port: servicePort.port, service, servicePort, headless: false });
      } else if (service.headless) {
        const seen = new Set<string>();
        for (const endpoint of model.endpoints(service.key, servicePort)) {
          const key = addressKey(endpoint.address, endpoint.port);
          if (seen.has(key) || isIP(endpoint.address) === 0) continue;
          seen.add(key);
          addresses.push({ ip: endpoint.address, port: endpoint.port, service, servicePort, headless: true });
        }
        addresses.sort((a, b) => compare(addressKey(a.ip, a.port), addressKey(b.ip, b.port)));
      }
      for (const address of addresses) {
        const key = addressKey(address.ip, address.port);
        const owner = byKey.get(key);
        if (owner === undefined) {
          byKey.set(key, address);
          owned.push(address);
        } else if (!(owner.headless && address.headless)) {
          conflicts.push({ address, owner });
        }
      }
    }
  }
  return { owned, conflicts };
}
