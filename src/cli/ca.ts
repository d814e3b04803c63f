// `switchyard ca init | issue`: a root CA in a folder, and certificates it signs written the way
// cert-manager's csi-driver-spiffe writes them into a pod (tls.crt, tls.key, ca.crt) — for local
// tests and the demo. In a cluster the CSI driver issues workload certificates; the control plane
// never holds workload private keys.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError, type FlagSpec, type FlagValues } from './flags.js';
import { createCertificateAuthority, issueCertificate, loadCertificateAuthority } from '../security/certificates.js';

export const CA_FLAGS: FlagSpec[] = [
  { name: 'dir', type: 'string', default: '', help: 'folder of the CA: ca.crt and ca.key (init makes it; issue reads it)' },
  { name: 'trust-domain', type: 'string', default: '', help: 'init: the SPIFFE trust domain of the CA, e.g. cluster.local' },
  {
    name: 'spiffe-id',
    type: 'string',
    default: '',
    help: 'issue: the workload identity, spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>',
  },
  { name: 'dns', type: 'list', default: [], help: 'issue: DNS names for a server certificate (the control plane), comma-separated' },
  { name: 'ip', type: 'list', default: [], help: 'issue: IP addresses for a server certificate, comma-separated' },
  { name: 'out', type: 'string', default: '', help: 'issue: folder to write tls.crt, tls.key and ca.crt into (replaced if present)' },
  { name: 'days', type: 'int', default: 0, min: 0, defaultHelp: 'init 365, issue 30', help: 'validity in days' },
];

export const CA_ACTIONS = ['init', 'issue'] as const;

/** Writes `text` so a reader sees the old file or the new one, never half of one. */
function writeAtomically(file: string, text: string, mode: number): void {
  const temporary = `${file}.tmp-${process.pid}`;
  writeFileSync(temporary, text, { mode });
  chmodSync(temporary, mode);
  renameSync(temporary, file);
}

function required(values: FlagValues, key: string, flag: string, action: string): string {
  const value = values[key];
  if (typeof value !== 'string' || value === '') throw new UsageError(`ca ${action} needs --${flag}`);
  return value;
}

export async function ca(values: FlagValues, output: { write(text: string): unknown }): Promise<number> {
  const action = values.action as (typeof CA_ACTIONS)[number];
  const dir = required(values, 'dir', 'dir', action);
  const caCert = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  const days = (values.days as number | undefined) || undefined;
  if (action === 'init') {
    const trustDomain = required(values, 'trustDomain', 'trust-domain', action);
    if (existsSync(caKey)) throw new UsageError(`${caKey} exists: a CA is already there; use another --dir, or remove it to start over`);
    let authority;
    try {
      authority = createCertificateAuthority({ trustDomain, days });
    } catch (error) {
      throw new UsageError(`--trust-domain: ${(error as Error).message}`);
    }
    mkdirSync(dir, { recursive: true });
    writeAtomically(caKey, authority.key, 0o600);
    writeAtomically(caCert, authority.cert, 0o644);
    output.write(`CA for trust domain ${trustDomain}: ${caCert} (private key ${caKey})\n`);
    return 0;
  }
  const out = required(values, 'out', 'out', action);
  const spiffeId = typeof values.spiffeId === 'string' && values.spiffeId !== '' ? values.spiffeId : undefined;
  const dnsNames = (values.dns as string[] | undefined) ?? [];
  const ipAddresses = (values.ip as string[] | undefined) ?? [];
  if (!spiffeId && dnsNames.length === 0 && ipAddresses.length === 0) {
    throw new UsageError('ca issue needs --spiffe-id (a workload), or --dns / --ip (a server)');
  }
  if (!existsSync(caKey) || !existsSync(caCert))
    throw new UsageError(`${dir} holds no CA (ca.crt, ca.key); run 'switchyard ca init --dir ${dir}' first`);
  let authority;
  let issued;
  try {
    authority = loadCertificateAuthority(readFileSync(caCert, 'utf8'), readFileSync(caKey, 'utf8'));
    issued = issueCertificate(authority, { spiffeId, dnsNames, ipAddresses, days });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  mkdirSync(out, { recursive: true });
  // The key first: a watcher that sees the new certificate finds its key already there.
  writeAtomically(path.join(out, 'tls.key'), issued.key, 0o600);
  writeAtomically(path.join(out, 'tls.crt'), issued.cert, 0o644);
  writeAtomically(path.join(out, 'ca.crt'), authority.cert, 0o644);
  output.write(
    `issued ${[spiffeId, ...dnsNames, ...ipAddresses].filter(Boolean).join(', ')}: ${path.join(out, 'tls.crt')}, tls.key, ca.crt\n`,
  );
  return 0;
}
