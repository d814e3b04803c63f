// Reads and writes the ADS messages a simulated Envoy exchanges, at the wire level:
// responses are scanned for names, versions and nonces; resources stay as byte ranges.
import { fields, findField, lenField, readString, WIRE_LEN, WIRE_VARINT } from './wire.js';

export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const CLA_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';

export const SOTW_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
export const DELTA_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

/** A resource inside a response: where its message bytes (Any.value) are in the response buffer. */
export interface ResourceSlice {
  valueStart: number;
  valueEnd: number;
}

export interface SotwResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  /** Each google.protobuf.Any's value range (the resource message). */
  resources: ResourceSlice[];
}

export interface DeltaResource extends ResourceSlice {
  name: string;
  version: string;
}

export interface DeltaResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: DeltaResource[];
  removed: string[];
}

/** The Any.value range inside an Any message range. */
function anyValue(buf: Uint8Array, start: number, end: number): ResourceSlice {
  const value = findField(buf, 2, start, end);
  return value ? { valueStart: value.start, valueEnd: value.end } : { valueStart: end, valueEnd: end };
}

export function parseSotwResponse(buf: Uint8Array): SotwResponse {
  const response: SotwResponse = { versionInfo: '', typeUrl: '', nonce: '', resources: [] };
  for (const f of fields(buf)) {
    if (f.wireType !== WIRE_LEN) continue;
    if (f.field === 1) response.versionInfo = readString(buf, f);
    else if (f.field === 2) response.resources.push(anyValue(buf, f.start, f.end));
    else if (f.field === 4) response.typeUrl = readString(buf, f);
    else if (f.field === 5) response.nonce = readString(buf, f);
  }
  return response;
}

export function parseDeltaResponse(buf: Uint8Array): DeltaResponse {
  const response: DeltaResponse = { systemVersionInfo: '', typeUrl: '', nonce: '', resources: [], removed: [] };
  for (const f of fields(buf)) {
    if (f.wireType !== WIRE_LEN) continue;
    if (f.field === 1) response.systemVersionInfo = readString(buf, f);
    else if (f.field === 4) response.typeUrl = readString(buf, f);
    else if (f.field === 5) response.nonce = readString(buf, f);
    else if (f.field === 6) response.removed.push(readString(buf, f));
    else if (f.field === 2) {
      // envoy.service.discovery.v3.Resource: version = 1, resource = 2 (Any), name = 3
      const resource: DeltaResource = { name: '', version: '', valueStart: f.end, valueEnd: f.end };
      for (const r of fields(buf, f.start, f.end)) {
        if (r.wireType !== WIRE_LEN) continue;
        if (r.field === 1) resource.version = readString(buf, r);
        else if (r.field === 3) resource.name = readString(buf, r);
        else if (r.field === 2) Object.assign(resource, anyValue(buf, r.start, r.end));
      }
      // A Resource without a name is named by its message (field 1 of every served type).
      if (!resource.name) resource.name = resourceName(buf, resource);
      response.resources.push(resource);
    }
  }
  return response;
}

/** The name of a resource: field 1 of Cluster, ClusterLoadAssignment, Listener, RouteConfiguration and Secret. */
export function resourceName(buf: Uint8Array, resource: ResourceSlice): string {
  const name = findField(buf, 1, resource.valueStart, resource.valueEnd);
  return name ? readString(buf, name) : '';
}

/**
 * The name Envoy subscribes to over EDS for a Cluster, or undefined when the cluster is not of
 * type EDS. Cluster: name = 1, type = 2 (EDS = 3), eds_cluster_config = 3 { service_name = 2 }.
 */
export function edsNameOfCluster(buf: Uint8Array, resource: ResourceSlice): string | undefined {
  let name = '';
  let isEds = false;
  let serviceName = '';
  for (const f of fields(buf, resource.valueStart, resource.valueEnd)) {
    if (f.field === 1 && f.wireType === WIRE_LEN) name = readString(buf, f);
    else if (f.field === 2 && f.wireType === WIRE_VARINT) isEds = f.varint === 3;
    else if (f.field === 3 && f.wireType === WIRE_LEN) {
      const service = findField(buf, 2, f.start, f.end);
      if (service) serviceName = readString(buf, service);
    }
  }
  return isEds ? serviceName || name : undefined;
}

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/**
 * The route configuration names a Listener's HTTP connection managers fetch over RDS.
 * Listener: filter_chains = 3, default_filter_chain = 25, api_listener = 19 { api_listener = 1 (Any) };
 * FilterChain: filters = 3; Filter: typed_config = 4 (Any); HCM: rds = 3 { route_config_name = 2 }.
 */
export function routeNamesOfListener(buf: Uint8Array, resource: ResourceSlice): string[] {
  const names: string[] = [];
  const fromHcmAny = (start: number, end: number): void => {
    const typeUrl = findField(buf, 1, start, end);
    if (!typeUrl || readString(buf, typeUrl) !== HCM_TYPE) return;
    const hcm = findField(buf, 2, start, end);
    if (!hcm) return;
    const rds = findField(buf, 3, hcm.start, hcm.end);
    const routeName = rds && findField(buf, 2, rds.start, rds.end);
    if (routeName) names.push(readString(buf, routeName));
  };
  const fromFilterChain = (start: number, end: number): void => {
    for (const filter of fields(buf, start, end)) {
      if (filter.field !== 3 || filter.wireType !== WIRE_LEN) continue;
      const typedConfig = findField(buf, 4, filter.start, filter.end);
      if (typedConfig) fromHcmAny(typedConfig.start, typedConfig.end);
    }
  };
  for (const f of fields(buf, resource.valueStart, resource.valueEnd)) {
    if (f.wireType !== WIRE_LEN) continue;
    if (f.field === 3 || f.field === 25) fromFilterChain(f.start, f.end);
    else if (f.field === 19) {
      const api = findField(buf, 1, f.start, f.end);
      if (api) fromHcmAny(api.start, api.end);
    }
  }
  return names;
}

// ---- requests -----------------------------------------------------------------------------

/** envoy.config.core.v3.Node { id = 1, cluster = 2, metadata = 3 (Struct), user_agent_name = 6 }. */
export function encodeNode(id: string, cluster: string, metadata: Record<string, string>): Buffer {
  // Struct { fields = 1: map<string, Value { string_value = 3 }> }
  const entries = Object.entries(metadata).map(([key, value]) =>
    lenField(1, Buffer.concat([lenField(1, key), lenField(2, lenField(3, value))])),
  );
  return Buffer.concat([lenField(1, id), lenField(2, cluster), lenField(3, Buffer.concat(entries)), lenField(6, 'envoy')]);
}

/** The repeated resource_names field (3) of a DiscoveryRequest, encoded once per subscription. */
export function encodeSotwResourceNames(names: readonly string[]): Buffer {
  return Buffer.concat(names.map((name) => lenField(3, name)));
}

/** A type_url field, encoded once per field number and type (every ACK carries one). */
const typeUrlFields = new Map<string, Buffer>();
function typeUrlField(field: number, typeUrl: string): Buffer {
  const key = `${field}${typeUrl}`;
  let encoded = typeUrlFields.get(key);
  if (!encoded) {
    encoded = lenField(field, typeUrl);
    typeUrlFields.set(key, encoded);
  }
  return encoded;
}

export function encodeSotwRequest(request: {
  node?: Buffer;
  versionInfo?: string;
  encodedResourceNames?: Buffer;
  typeUrl: string;
  nonce?: string;
}): Buffer {
  const parts: Buffer[] = [];
  if (request.versionInfo) parts.push(lenField(1, request.versionInfo));
  if (request.node) parts.push(lenField(2, request.node));
  if (request.encodedResourceNames) parts.push(request.encodedResourceNames);
  parts.push(typeUrlField(4, request.typeUrl));
  if (request.nonce) parts.push(lenField(5, request.nonce));
  return Buffer.concat(parts);
}

export function encodeDeltaRequest(request: {
  node?: Buffer;
  typeUrl: string;
  subscribe?: readonly string[];
  /** In place of `subscribe`: the names already encoded as field 3 (as `encodeSotwResourceNames`
   * writes them: resource_names_subscribe has DiscoveryRequest.resource_names' number). */
  encodedSubscribe?: Buffer;
  unsubscribe?: readonly string[];
  nonce?: string;
}): Buffer {
  const parts: Buffer[] = [];
  if (request.node) parts.push(lenField(1, request.node));
  parts.push(typeUrlField(2, request.typeUrl));
  if (request.encodedSubscribe) parts.push(request.encodedSubscribe);
  for (const name of request.subscribe ?? []) parts.push(lenField(3, name));
  for (const name of request.unsubscribe ?? []) parts.push(lenField(4, name));
  if (request.nonce) parts.push(lenField(6, request.nonce));
  return Buffer.concat(parts);
}

// ---- the server side (the floor server) -------------------------------------------------------

export interface SotwRequest {
  typeUrl: string;
  resourceNames: string[];
  nonce: string;
  isNack: boolean;
}

export interface DeltaRequest {
  typeUrl: string;
  subscribe: string[];
  unsubscribe: string[];
  nonce: string;
  isNack: boolean;
}

export function parseSotwRequest(buf: Uint8Array): SotwRequest {
  const request: SotwRequest = { typeUrl: '', resourceNames: [], nonce: '', isNack: false };
  for (const f of fields(buf)) {
    if (f.wireType !== WIRE_LEN) continue;
    if (f.field === 3) request.resourceNames.push(readString(buf, f));
    else if (f.field === 4) request.typeUrl = readString(buf, f);
    else if (f.field === 5) request.nonce = readString(buf, f);
    else if (f.field === 6) request.isNack = true;
  }
  return request;
}

export function parseDeltaRequest(buf: Uint8Array): DeltaRequest {
  const request: DeltaRequest = { typeUrl: '', subscribe: [], unsubscribe: [], nonce: '', isNack: false };
  for (const f of fields(buf)) {
    if (f.wireType !== WIRE_LEN) continue;
    if (f.field === 2) request.typeUrl = readString(buf, f);
    else if (f.field === 3) request.subscribe.push(readString(buf, f));
    else if (f.field === 4) request.unsubscribe.push(readString(buf, f));
    else if (f.field === 6) request.nonce = readString(buf, f);
    else if (f.field === 7) request.isNack = true;
  }
  return request;
}

/** google.protobuf.Any { type_url = 1, value = 2 }. */
export function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  return Buffer.concat([lenField(1, typeUrl), lenField(2, value)]);
}

/** envoy.service.discovery.v3.Resource { version = 1, resource = 2, name = 3 }. */
export function encodeDeltaResource(name: string, version: string, anyBytes: Uint8Array): Buffer {
  return Buffer.concat([lenField(1, version), lenField(2, anyBytes), lenField(3, name)]);
}

export function encodeSotwResponse(versionInfo: string, anys: readonly Uint8Array[], typeUrl: string, nonce: string): Buffer {
  return Buffer.concat([lenField(1, versionInfo), ...anys.map((any) => lenField(2, any)), lenField(4, typeUrl), lenField(5, nonce)]);
}

export function encodeDeltaResponse(
  systemVersionInfo: string,
  resources: readonly Uint8Array[],
  typeUrl: string,
  nonce: string,
  removed: readonly string[] = [],
): Buffer {
  return Buffer.concat([
    lenField(1, systemVersionInfo),
    ...resources.map((r) => lenField(2, r)),
    lenField(4, typeUrl),
    lenField(5, nonce),
    ...removed.map((name) => lenField(6, name)),
  ]);
}
