// What a real gRPC client does with a resource before it ACKs or NACKs it: @grpc/grpc-js-xds's own
// decoding and validation of CDS / EDS / LDS / RDS resources (and, re-exported, the examples' model to feed it).
import { createRequire } from 'node:module';
import { encodeMessage, type XdsResource } from '../../src/envoy/protos.js';

const require = createRequire(import.meta.url);
const grpcXds = require('@grpc/grpc-js-xds');
const resourceTypes = '@grpc/grpc-js-xds/build/src/xds-resource-type';
export const ClusterResourceType = require(`${resourceTypes}/cluster-resource-type.js`).ClusterResourceType;
export const EndpointResourceType = require(`${resourceTypes}/endpoint-resource-type.js`).EndpointResourceType;
export const ListenerResourceType = require(`${resourceTypes}/listener-resource-type.js`).ListenerResourceType;
export const RouteConfigurationResourceType = require(`${resourceTypes}/route-config-resource-type.js`).RouteConfigurationResourceType;

/** Registers grpc-js-xds's resolver and LB policies (the decoders check policies against them). */
export function registerGrpcXds(): void {
  grpcXds.register();
}

const context = { bootstrap: { certificateProviders: {}, node: {}, xdsServers: [], authorities: {} }, server: {} };

/** The resource as grpc-js-xds decodes it, or the error it would NACK with. */
export function grpcDecode(resourceType: any, resource: XdsResource): { name: string; error?: string; value?: any } {
  return resourceType.decode(context, { type_url: resource.typeUrl, value: Buffer.from(encodeMessage(resource.typeUrl, resource.value)) });
}

export { exampleModel } from './builders.js';
