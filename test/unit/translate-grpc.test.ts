// The proxyless resources go through @grpc/grpc-js-xds's own resource validation: what a real
// gRPC client does with a CDS / EDS / LDS / RDS response before it ACKs (or NACKs) it.
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MeshModel } from '../../src/model/index.js';
import { encodeMessage, type XdsResource } from '../../src/envoy/protos.js';
import type { KubeObject, SourceEvent } from '../../src/sources/types.js';
import { translateAll } from '../../src/translate/index.js';

const require = createRequire(import.meta.url);
const grpcXds = require('@grpc/grpc-js-xds');
const { ClusterResourceType } = require('@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js');
const { EndpointResourceType } = require('@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type.js');
const { ListenerResourceType } = require('@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type.js');
const { RouteConfigurationResourceType } = require('@grpc/grpc-js-xds/build/src/xds-resource-type/route-config-resource-type.js');

function exampleModel(): MeshModel {
  const events: SourceEvent[] = [];
  for (const file of readdirSync('examples').filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(readFileSync(path.join('examples', file), 'utf8'))) {
      const object = doc.toJS() as KubeObject;
      events.push({ type: 'upsert', ref: { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name }, object });
    }
  }
  const model = new MeshModel();
  model.apply(events);
  return model;
}

const context = { bootstrap: { certificateProviders: {}, node: {}, xdsServers: [], authorities: {} }, server: {} };

function grpcDecode(resourceType: any, resource: XdsResource): { name: string; error?: string; value?: any } {
  return resourceType.decode(context, { type_url: resource.typeUrl, value: Buffer.from(encodeMessage(resource.typeUrl, resource.value)) });
}

describe('proxyless resources as gRPC validates them', () => {
  beforeAll(() => grpcXds.register());
  const resources = translateAll(exampleModel(), 'proxyless');

  it('accepts every cluster and takes a policy it knows from each list', () => {
    for (const cluster of resources.clusters) {
      const decoded = grpcDecode(ClusterResourceType.get(), cluster);
      expect({ name: cluster.name, error: decoded.error }).toEqual({ name: cluster.name, error: undefined });
    }
    const catalog = grpcDecode(ClusterResourceType.get(), resources.clusters.find((c) => c.name === 'shop/catalog/80')!);
    expect(JSON.stringify(catalog.value.lbPolicyConfig)).toContain('ring_hash');
    const payments = grpcDecode(ClusterResourceType.get(), resources.clusters.find((c) => c.name === 'shop/payments/50051')!);
    expect(JSON.stringify(payments.value.lbPolicyConfig)).toContain('round_robin');
  });

  it('accepts every endpoint assignment, listener and route configuration', () => {
    for (const [type, list] of [
      [EndpointResourceType.get(), resources.endpoints],
      [ListenerResourceType.get(), resources.listeners],
      [RouteConfigurationResourceType.get(), resources.routes],
    ] as const) {
      for (const resource of list) {
        const decoded = grpcDecode(type, resource);
        expect({ name: resource.name, error: decoded.error }).toEqual({ name: resource.name, error: undefined });
      }
    }
  });
});
