// Fixtures for the gateway tests: a small shop, its Ingress, and self-signed certificates made
// with the openssl command line (node:crypto cannot sign X.509; each call makes a fresh key pair).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type {
  EndpointSliceObject,
  IngressObject,
  KubeObject,
  SecretObject,
  ServiceObject,
  SourceEvent,
} from '../../src/sources/types.js';

export interface TestCertificate {
  certPem: string;
  keyPem: string;
}

export function selfSigned(host: string): TestCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-cert-'));
  try {
    const keyFile = path.join(dir, 'tls.key');
    const certFile = path.join(dir, 'tls.crt');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`,
    ], { stdio: 'pipe' });
    return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function tlsSecret(namespace: string, name: string, certificate: TestCertificate): SecretObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(certificate.certPem).toString('base64'),
      'tls.key': Buffer.from(certificate.keyPem).toString('base64'),
    },
  };
}

export function service(name: string, ports: Array<{ name?: string; port: number; appProtocol?: string }>, namespace = 'shop'): ServiceObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports } };
}

export function slice(serviceName: string, port: number, addresses: string[], namespace = 'shop', portName = 'http'): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${serviceName}-slice`, namespace, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: [{ name: portName, port }],
    endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
  };
}

export function upsert(object: KubeObject): SourceEvent {
  return { type: 'upsert', ref: { kind: object.kind, namespace: object.metadata.namespace ?? '', name: object.metadata.name }, object };
}

/** The shop: frontend (port 80 "http"), reviews with two versions (9080 "http", gRPC), cart (not in any Ingress). */
export function shopObjects(): KubeObject[] {
  return [
    service('frontend', [{ name: 'http', port: 80 }]),
    slice('frontend', 8080, ['10.0.0.1']),
    service('reviews', [{ name: 'http', port: 9080, appProtocol: 'grpc' }]),
    slice('reviews', 9080, ['10.0.1.1']),
    service('reviews-v1', [{ name: 'http', port: 9080, appProtocol: 'grpc' }]),
    slice('reviews-v1', 9080, ['10.0.1.1']),
    service('reviews-v2', [{ name: 'http', port: 9080, appProtocol: 'grpc' }]),
    slice('reviews-v2', 9080, ['10.0.2.1']),
    service('cart', [{ name: 'http', port: 8080 }]),
    slice('cart', 8080, ['10.0.3.1']),
  ];
}

export function shopIngress(overrides: Partial<IngressObject['spec']> = {}, annotations?: Record<string, string>): IngressObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'shop', namespace: 'shop', ...(annotations ? { annotations } : {}) },
    spec: {
      ingressClassName: 'switchyard',
      rules: [
        {
          host: 'shop.example.com',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name: 'frontend', port: { number: 80 } } } },
              { path: '/api/reviews/', pathType: 'Prefix', backend: { service: { name: 'reviews', port: { name: 'http' } } } },
              { path: '/healthz', pathType: 'Exact', backend: { service: { name: 'frontend', port: { name: 'http' } } } },
            ],
          },
        },
      ],
      ...overrides,
    },
  };
}

