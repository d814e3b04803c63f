// TLS for the xDS port: server certificate and key (and, for mutual TLS, the CA that signs
// client certificates) read from files, and read again when the files change, without
// touching open connections: only new handshakes see a new certificate.
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { log } from '../log.js';

export interface TlsFiles {
  /** PEM certificate chain the server presents. */
  certFile: string;
  /** PEM private key of that certificate. */
  keyFile: string;
  /** PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS). */
  clientCaFile?: string;
  /** How often the files' size, mtime and inode are compared for a change. Default 2000 ms. */
  reloadIntervalMs?: number;
}

interface LoadedFiles {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  signature: string;
}

type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

function fileSignature(file: string): string {
  const info = statSync(file);
  return `${info.ino}:${info.size}:${info.mtimeMs}`;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`TLS ${what} ${file} cannot be read: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * One provider for both the server's identity and the client CA, so grpc-js sees each
 * rotation as one consistent pair. A rotation is published only once the new certificate,
 * key and CA load together; a half-written pair (new certificate, old key) keeps the last
 * good one until the next check.
 */
export class ReloadingCertificateProvider implements grpc.experimental.CertificateProvider {
  private current: LoadedFiles;
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private readonly timer: NodeJS.Timeout;
  private lastProblem: string | undefined;

  constructor(private readonly files: TlsFiles) {
    // The first load throws: a server must not start with certificates it cannot use.
    this.current = this.load();
    this.timer = setInterval(() => this.check(), files.reloadIntervalMs ?? 2000);
    this.timer.unref();
  }

  /** Reads the files now if they changed (the timer does this periodically). True when a new pair was published. */
  check(): boolean {
    let signature: string;
    try {
      signature = this.signature();
    } catch {
      // A file briefly missing mid-rotation: keep serving the last good pair.
      return false;
    }
    if (signature === this.current.signature) return false;
    let next: LoadedFiles;
    try {
      next = this.load();
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.lastProblem) log.warn('TLS files changed but do not load; keeping the previous certificate', { error: message });
      this.lastProblem = message;
      return false;
    }
    this.lastProblem = undefined;
    this.current = next;
    log.info('TLS certificate reloaded', { certFile: this.files.certFile, clientCaFile: this.files.clientCaFile });
    for (const listener of this.identityListeners) listener({ certificate: next.cert, privateKey: next.key });
    if (next.ca) for (const listener of this.caListeners) listener({ caCertificate: next.ca });
    return true;
  }

  close(): void {
    clearInterval(this.timer);
    this.identityListeners.clear();
    this.caListeners.clear();
  }

  // grpc-js registers its own watcher only after adding these listeners, so the current files
  // are handed over a microtask later (still before the server accepts its first connection).
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener({ certificate: this.current.cert, privateKey: this.current.key });
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener(this.current.ca ? { caCertificate: this.current.ca } : null);
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  private signature(): string {
    const files = [this.files.certFile, this.files.keyFile, ...(this.files.clientCaFile ? [this.files.clientCaFile] : [])];
    return files.map(fileSignature).join('|');
  }

  private load(): LoadedFiles {
    // Taken before reading: a change during the read shows at the next check.
    let signature: string;
    try {
      signature = this.signature();
    } catch (error) {
      throw new Error(`TLS file cannot be read: ${(error as Error).message}`, { cause: error });
    }
    const cert = readPem(this.files.certFile, 'certificate');
    const key = readPem(this.files.keyFile, 'private key');
    const ca = this.files.clientCaFile ? readPem(this.files.clientCaFile, 'client CA') : undefined;
    try {
      // Checks that the key belongs to the certificate and that every PEM parses.
      createSecureContext({ cert, key, ca });
    } catch (error) {
      throw new Error(
        `TLS certificate ${this.files.certFile}, key ${this.files.keyFile}${ca ? ` and client CA ${this.files.clientCaFile}` : ''} do not load together: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return { cert, key, ca, signature };
  }
}

export interface XdsServerTls {
  credentials: grpc.ServerCredentials;
  provider: ReloadingCertificateProvider;
  mutual: boolean;
}

/** Server credentials that follow the files; with a client CA, client certificates are required and verified. */
export function reloadingServerCredentials(files: TlsFiles): XdsServerTls {
  const provider = new ReloadingCertificateProvider(files);
  const mutual = files.clientCaFile !== undefined;
  // grpc-js 1.14 declares the parameters as (ca, identity, ...) but passes the first to the
  // identity slot and the second to the CA slot; one provider serving both makes the order moot.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, mutual ? provider : null, mutual);
  return { credentials, provider, mutual };
}

/** Loopback hosts, where plain text is acceptable. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\./.test(bare);
}
