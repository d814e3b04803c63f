// What a gateway gets beside its listeners and routes: the clusters its route configurations send
// to, and their assignments — never the whole mesh. Shared by the Ingress and Gateway API gateways.
import { compare, type MeshModel } from '../model/index.js';
import type { XdsResource } from '../envoy/protos.js';
import { buildServiceClusters } from './clusters.js';
import { buildServiceEndpoints } from './endpoints.js';
import type { TranslateOptions } from './options.js';

export interface RoutedClusters {
  clusters: XdsResource[];
  endpoints: XdsResource[];
  /** The Services those clusters belong to, sorted (whether the model still has them or not). */
  serviceKeys: string[];
}

export function routedClusters(model: MeshModel, routes: XdsResource[], options: TranslateOptions): RoutedClusters {
  const names = new Set<string>();
  for (const route of routes) collectClusters(route.value as Record<string, unknown>, names);
  const serviceKeys = [...new Set([...names].map((name) => name.slice(0, name.lastIndexOf('/'))))].sort(compare);
  const clusters: XdsResource[] = [];
  const endpoints: XdsResource[] = [];
  for (const serviceKey of serviceKeys) {
    const service = model.service(serviceKey);
    if (!service) continue;
    clusters.push(...buildServiceClusters(model, service, 'sidecar', options).filter((r) => names.has(r.name)));
    endpoints.push(...buildServiceEndpoints(model, service, 'sidecar').filter((r) => names.has(r.name)));
  }
  return { clusters, endpoints, serviceKeys };
}

/** Cluster names a route configuration sends to (routes, weighted clusters, mirrors). */
function collectClusters(config: Record<string, unknown>, into: Set<string>): void {
  type Action = {
    cluster?: string;
    weightedClusters?: { clusters?: Array<{ name: string }> };
    requestMirrorPolicies?: Array<{ cluster: string }>;
  };
  for (const vh of (config.virtualHosts ?? []) as Array<{ routes?: Array<{ route?: Action }> }>) {
    for (const route of vh.routes ?? []) {
      const action = route.route;
      if (!action) continue;
      if (action.cluster) into.add(action.cluster);
      for (const weighted of action.weightedClusters?.clusters ?? []) into.add(weighted.name);
      for (const mirror of action.requestMirrorPolicies ?? []) into.add(mirror.cluster);
    }
  }
}
