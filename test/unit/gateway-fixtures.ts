// Fixtures for the gateway tests: a small shop (built with test/support/builders.ts), its Ingress,
// and self-signed certificates made with the openssl command line (node:crypto cannot sign X.509;
// each call makes a fresh key pair).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EndpointSliceObject, IngressObject, KubeObject } from '../../src/sources/types.js';
import { endpointsAt, ingress, service, slice, type IngressPath } from '../support/builders.js';

export interface TestCertificate {
  certPem: string;
  keyPem: string;
}

export function selfSigned(host: string): TestCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-cert-'));
  try {
    const keyFile = path.join(dir, 'tls.key');
    const certFile = path.join(dir, 'tls.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '2',
        '-subj',
        `/CN=${host}`,
        '-addext',
        `subjectAltName=DNS:${host}`,
      ],
      { stdio: 'pipe' },
    );
    return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A slice of a Service named `<service>-slice`, one port (`http` unless said), ready addresses. */
function serviceSlice(serviceName: string, port: number, addresses: string[]): EndpointSliceObject {
  return slice(`${serviceName}-slice`, serviceName, endpointsAt(...addresses), [{ name: 'http', port }]);
}

/** The shop: frontend (port 80 "http"), reviews with two versions (9080 "http", gRPC), cart (not in any Ingress). */
export function shopObjects(): KubeObject[] {
  return [
    service('frontend', [{ name: 'http', port: 80 }]),
    serviceSlice('frontend', 8080, ['10.0.0.1']),
    service('reviews', [{ name: 'http', port: 9080, appProtocol: 'grpc' }]),
    serviceSlice('reviews', 9080, ['10.0.1.1']),
    service('reviews-v1', [{ name: 'http', port: 9080, appProtocol: 'grpc' }]),
    serviceSlice('reviews-v1', 9080, ['10.0.1.1']),
    service('reviews-v2', [{ name: 'http', port: 9080, appProtocol: 'grpc' }]),
    serviceSlice('reviews-v2', 9080, ['10.0.2.1']),
    service('cart', [{ name: 'http', port: 8080 }]),
    serviceSlice('cart', 8080, ['10.0.3.1']),
  ];
}

export function shopIngress(overrides: Partial<IngressObject['spec']> = {}, annotations?: Record<string, string>): IngressObject {
  const paths: IngressPath[] = [
    { path: '/', service: 'frontend', port: 80 },
    { path: '/api/reviews/', service: 'reviews', port: 'http' },
    { path: '/healthz', pathType: 'Exact', service: 'frontend', port: 'http' },
  ];
  return ingress('shop', [{ host: 'shop.example.com', paths }], { annotations, spec: overrides });
}

/** The shop Ingress with a second host, api.example.com (to reviews), each host with its own TLS Secret. */
export function twoHostTlsIngress(): IngressObject {
  const twoHosts = shopIngress({
    tls: [
      { hosts: ['shop.example.com'], secretName: 'shop-tls' },
      { hosts: ['api.example.com'], secretName: 'api-tls' },
    ],
  });
  twoHosts.spec.rules!.push({
    host: 'api.example.com',
    http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'reviews', port: { number: 9080 } } } }] },
  });
  return twoHosts;
}
