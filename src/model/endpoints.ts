// The EndpointSlice processor: the slices of a Service, merged for one Service port into the
// endpoints a cluster serves (address, port, health, zone), sorted so the output is stable.
import type { EndpointSliceObject } from '../sources/types.js';
import { compare, sortInPlace } from './keys.js';
import type { EndpointHealth, EndpointInfo, ServicePortInfo } from './types.js';

/** The endpoints behind one Service port, merged over its EndpointSlices, sorted by zone, address, port. */
export function mergeEndpoints(slices: readonly EndpointSliceObject[], servicePort: ServicePortInfo): readonly EndpointInfo[] {
  // Every address the slices offer, then sorted by address and port, where an address offered
  // twice (a slice being replaced) sits next to its repeat: no map of addresses per Service port
  // (10,000 of them at start-up, for ten endpoints each).
  // Indexed loops: 100,000 endpoints at start-up, mostly before this is optimized, where for-of
  // makes an iterator result per item.
  const offered: EndpointInfo[] = [];
  for (let s = 0; s < slices.length; s++) {
    const slice = slices[s];
    if (slice.addressType === 'FQDN') continue;
    const port = resolveEndpointPort(servicePort, slice);
    if (port === undefined) continue;
    const endpoints = slice.endpoints ?? [];
    for (let e = 0; e < endpoints.length; e++) {
      const endpoint = endpoints[e];
      const health = endpointHealth(endpoint.conditions);
      if (!health) continue;
      const addresses = endpoint.addresses ?? [];
      for (let a = 0; a < addresses.length; a++) {
        const address = addresses[a];
        // No spread, and every field in the literal (a field added later costs each object a second allocation): 100,000 endpoints at start-up.
        const zone = endpoint.zone ?? '';
        offered.push(endpoint.nodeName ? { address, port, health, zone, nodeName: endpoint.nodeName } : { address, port, health, zone });
      }
    }
  }
  // Stable: the offers of one address and port stay in the slices' order.
  sortInPlace(offered, byAddressPort);
  let kept = 0;
  for (let i = 0; i < offered.length; i++) {
    const offer = offered[i];
    if (kept > 0 && byAddressPort(offered[kept - 1], offer) === 0) {
      // The same address and port again: the first offer counts, unless a later one is healthier.
      if (offered[kept - 1].health === 'draining' && offer.health === 'healthy') offered[kept - 1] = offer;
    } else {
      offered[kept++] = offer;
    }
  }
  offered.length = kept;
  return Object.freeze(sortInPlace(offered, byZoneAddressPort));
}

function byAddressPort(a: EndpointInfo, b: EndpointInfo): number {
  return compare(a.address, b.address) || a.port - b.port;
}

function byZoneAddressPort(a: EndpointInfo, b: EndpointInfo): number {
  return compare(a.zone, b.zone) || compare(a.address, b.address) || a.port - b.port;
}

/** The endpoint port for a Service port: the slice port with the Service port's name, else a numeric targetPort. */
function resolveEndpointPort(servicePort: ServicePortInfo, slice: EndpointSliceObject): number | undefined {
  const ports = slice.ports ?? [];
  if (ports.length > 0) {
    const named = ports.find((p) => (p.name ?? '') === servicePort.name);
    // `port: null` is Kubernetes' "all ports": no number Envoy could dial, so not served
    // (the analysis reports it as EndpointPortWithoutNumber).
    return typeof named?.port === 'number' ? named.port : undefined;
  }
  if (typeof servicePort.targetPort === 'number') return servicePort.targetPort;
  if (servicePort.targetPort === undefined) return servicePort.port;
  return undefined;
}

/** Kubernetes: ready unset means ready; serving unset means the same as ready. */
function endpointHealth(conditions: { ready?: boolean; serving?: boolean; terminating?: boolean } | undefined): EndpointHealth | undefined {
  const ready = conditions?.ready ?? true;
  const serving = conditions?.serving ?? ready;
  const terminating = conditions?.terminating ?? false;
  if (ready && !terminating) return 'healthy';
  if (serving) return 'draining';
  return undefined;
}
