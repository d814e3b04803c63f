// TLS certificates for gateways: a Secret's certificate (parsed and checked by the model)
// becomes an SDS Secret (envoy.extensions.transport_sockets.tls.v3.Secret) named `<namespace>/<name>`.
import type { MeshModel } from '../model/index.js';
import { TypeUrl, type XdsResource } from '../envoy/protos.js';
import { tlsSecretName } from './names.js';

type TlsSecretResult = { ok: true; resource: XdsResource } | { ok: false; error: string };

/** The SDS Secret for a Kubernetes TLS Secret, or why it cannot be served (the model's reason). */
export function buildTlsSecret(model: MeshModel, namespace: string, secretName: string): TlsSecretResult {
  const certificate = model.tlsCertificate(namespace, secretName);
  if (!certificate.ok) return certificate;
  const name = tlsSecretName(namespace, secretName);
  return {
    ok: true,
    resource: {
      typeUrl: TypeUrl.Secret,
      name,
      value: {
        name,
        tlsCertificate: {
          certificateChain: { inlineString: certificate.certificatePem },
          privateKey: { inlineString: certificate.keyPem },
        },
      },
    },
  };
}
