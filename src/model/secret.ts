// The Secret processor: a Kubernetes Secret becomes the TLS certificate a gateway serves, or the
// reason it cannot be one. The PEMs are parsed here, once per Secret version, so a broken Secret
// is caught before Envoy would NACK the whole SDS response.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { SecretObject } from '../sources/types.js';
import type { TlsCertificate } from './types.js';

const TLS_SECRET_TYPE = 'kubernetes.io/tls';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The certificate of a Secret, or why it cannot be served: missing keys, not of type kubernetes.io/tls, not base64, unparsable PEMs, or a key that does not belong to the certificate. */
export function tlsCertificate(namespace: string, name: string, secret: SecretObject | undefined): TlsCertificate {
  const where = `Secret ${namespace}/${name}`;
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
      throw new Error(`${where}: tls.crt is not a PEM certificate (${(error as Error).message})`, { cause: error });
    }
    let key: ReturnType<typeof createPrivateKey>;
    try {
      key = createPrivateKey(keyPem);
    } catch (error) {
      throw new Error(`${where}: tls.key is not a PEM private key (${(error as Error).message})`, { cause: error });
    }
    if (!certificate.checkPrivateKey(key)) throw new Error(`${where}: tls.key does not match the certificate in tls.crt`);
    return { ok: true, certificatePem, keyPem };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

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
