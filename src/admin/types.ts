// What the admin server observes, as structural types: the xDS server's events and stream
// snapshots, the pipeline's flush reports and the cache. Tests can hand in any emitter with
// the same event shapes.
import type { EventEmitter } from 'node:events';
import type { ResourceCache } from '../cache/types.js';
import type { PipelineEvents } from '../pipeline/pipeline.js';
import { SERVED_TYPE_URLS } from '../envoy/protos.js';
import type { StreamSnapshot, XdsServerEvents } from '../xds/events.js';
import type { DegradationSource } from './client-degradations.js';

export interface ObservedXdsServer extends EventEmitter<XdsServerEvents> {
  streams(): StreamSnapshot[];
  /** Each stream's id, node, group, client and flavour without its per-type state: what the gauges need, cheaply. */
  streamIdentities?(): Array<Pick<StreamSnapshot, 'streamId' | 'nodeId' | 'group' | 'client' | 'flavour'>>;
  sendQueue(): { bytes: number; waiting: number };
}

/** The pipeline's events and, when it can say them, the clients' degradations. */
export type ObservedPipeline = EventEmitter<PipelineEvents> & Partial<DegradationSource>;

export interface AdminSources {
  server: ObservedXdsServer;
  cache: ResourceCache;
  pipeline: ObservedPipeline;
}

/** `Cluster` for `type.googleapis.com/envoy.config.cluster.v3.Cluster`; `other` for types Switchyard does not serve,
 * so a client asking for odd types cannot grow the metric label space. */
export function shortTypeName(typeUrl: string): string {
  if (!(SERVED_TYPE_URLS as readonly string[]).includes(typeUrl)) return 'other';
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}

/** The xDS service abbreviation of each served type, as `switchyard status` prints them. */
export const TYPE_ABBREVIATIONS: ReadonlyArray<[abbreviation: string, shortName: string]> = [
  ['CDS', 'Cluster'],
  ['EDS', 'ClusterLoadAssignment'],
  ['LDS', 'Listener'],
  ['RDS', 'RouteConfiguration'],
  ['SDS', 'Secret'],
];
