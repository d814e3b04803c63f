// TLS certificates for gateways: a `kubernetes.io/tls` Secret becomes an SDS Secret
// (envoy.extensions.transport_sockets.tls.v3.Secret) named `<namespace>/<name>`. The PEMs are
// parsed here so a broken Secret is caught before Envoy would NACK the whole SDS response.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { MeshModel } from '../model/mesh-model.js';
import type { SecretObject } from '../sources/types.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { tlsSecretName } from './names.js';

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

export type TlsSecretResult = { ok: true; resource: XdsResource } | { ok: false; error: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** One key of the Secret as text: `data` (base64) first, then `stringData`. */
function secretText(secret: SecretObject, key: string, where: string): string {
  const encoded = secret.data?.[key];
  if (encoded !== undefined) {
    const compact = encoded.replace(/\s+/g, '');
    if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
      throw new Error(`${where}: data["${key}"] is not valid base64`);
    }
    return Buffer.from(compact, 'base64').toString('utf8');
  }
  const plain = secret.stringData?.[key];
  if (plain !== undefined) return plain;
  throw new Error(`${where}: data["${key}"] is missing; a ${TLS_SECRET_TYPE} Secret needs tls.crt and tls.key`);
}

/**
 * The SDS Secret for a Kubernetes TLS Secret, or why it cannot be served: missing, not of type
 * kubernetes.io/tls, not base64, a certificate or key that does not parse, or a key that does
 * not belong to the certificate.
 */
export function buildTlsSecret(model: MeshModel, namespace: string, secretName: string): TlsSecretResult {
  const where = `Secret ${namespace}/${secretName}`;
  const secret = model.secret(namespace, secretName);
  if (!secret) return { ok: false, error: `${where}: not found` };
  if (secret.type !== TLS_SECRET_TYPE) {
    return { ok: false, error: `${where}: type is "${secret.type ?? 'Opaque'}"; TLS certificates need type ${TLS_SECRET_TYPE}` };
  }
  try {
    const certificatePem = secretText(secret, 'tls.crt', where);
    const keyPem = secretText(secret, 'tls.key', where);
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(certificatePem);
    } catch (error) {
      throw new Error(`${where}: tls.crt is not a PEM certificate (${(error as Error).message})`);
    }
    let key: ReturnType<typeof createPrivateKey>;
    try {
      key = createPrivateKey(keyPem);
    } catch (error) {
      throw new Error(`${where}: tls.key is not a PEM private key (${(error as Error).message})`);
    }
    if (!certificate.checkPrivateKey(key)) throw new Error(`${where}: tls.key does not match the certificate in tls.crt`);
    const name = tlsSecretName(namespace, secretName);
    return {
      ok: true,
      resource: {
        typeUrl: TypeUrl.Secret,
        name,
        value: {
          name,
          tlsCertificate: { certificateChain: { inlineString: certificatePem }, privateKey: { inlineString: keyPem } },
        },
      },
    };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
