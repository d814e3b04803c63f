// The injection webhook's HTTPS server: the Kubernetes API server POSTs AdmissionReviews to
// /inject/namespace and /inject/pod (admission.ts decides). The serving certificate comes from
// files (a cert-manager Secret mounted as tls.crt / tls.key, re-read when they change) or is given
// in memory (one Switchyard generated); either can be replaced without dropping the server.
import { readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { answerReview, SCOPE_PATHS, type InjectionSettings } from './admission.js';
import { log } from '../log.js';

/** The API server caps an object at about 3 MiB; a review is that plus a little. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface ServingCertificate {
  cert: string;
  key: string;
}

export interface InjectionServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  settings: InjectionSettings;
  certificate: ServingCertificate;
}

export interface InjectionServer {
  port: number;
  /** New handshakes use this certificate; open connections keep theirs. */
  setCertificate(certificate: ServingCertificate): void;
  close(): Promise<void>;
}

function readBody(request: import('node:http').IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

export async function startInjectionServer(options: InjectionServerOptions): Promise<InjectionServer> {
  const server: Server = createServer({ cert: options.certificate.cert, key: options.certificate.key }, (request, response) => {
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    const scope = SCOPE_PATHS[new URL(request.url ?? '/', 'https://webhook').pathname];
    if (!scope) return send(404, { error: `no webhook at ${request.url}; the paths are ${Object.keys(SCOPE_PATHS).join(', ')}` });
    if (request.method !== 'POST') return send(405, { error: 'POST an AdmissionReview' });
    readBody(request).then(
      (text) => {
        if (text === undefined) return send(413, { error: `the body is larger than ${MAX_BODY_BYTES} bytes` });
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (error) {
          return send(400, { error: `not an AdmissionReview this webhook can answer: the body is not JSON (${(error as Error).message})` });
        }
        const answer = answerReview(body, scope, options.settings);
        if (answer.status !== 200) log.warn('injection webhook: unreadable review', { error: answer.body.error });
        const response = answer.body.response as { allowed?: boolean; patch?: string; status?: { message?: string } } | undefined;
        if (response?.allowed === false) log.info('injection webhook refused a pod', { reason: response.status?.message });
        else if (response?.patch) log.debug('injection webhook: sidecar injected', { scope });
        send(answer.status, answer.body);
      },
      (error: Error) => send(400, { error: `reading the request failed: ${error.message}` }),
    );
  });
  server.on('tlsClientError', (error) => log.debug('injection webhook: TLS handshake failed', { error: error.message }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    setCertificate(certificate) {
      server.setSecureContext({ cert: certificate.cert, key: certificate.key });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** tls.crt and tls.key of a mounted kubernetes.io/tls Secret. */
export function certificateFiles(dir: string): { certFile: string; keyFile: string } {
  return { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') };
}

/** Reads the pair from a directory; throws naming the file when one is missing. */
export function readCertificateDir(dir: string): ServingCertificate {
  const { certFile, keyFile } = certificateFiles(dir);
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`--injection-cert-dir: cannot read ${file} (${(error as Error).message}); mount a kubernetes.io/tls Secret there`, {
        cause: error,
      });
    }
  };
  return { cert: read(certFile), key: read(keyFile) };
}

/**
 * Watches the directory's pair and hands every new, loadable one to `apply`. Kubernetes updates a
 * mounted Secret by swapping a symlink, so the files' identity (inode, size, mtime) is compared.
 * Returns the stop function.
 */
export function watchCertificateDir(dir: string, apply: (certificate: ServingCertificate) => void, intervalMs = 5000): () => void {
  const { certFile, keyFile } = certificateFiles(dir);
  const signature = () =>
    [certFile, keyFile]
      .map((f) => statSync(f))
      .map((s) => `${s.ino}:${s.size}:${s.mtimeMs}`)
      .join('|');
  let last = signature();
  const timer = setInterval(() => {
    try {
      const now = signature();
      if (now === last) return;
      apply(readCertificateDir(dir));
      last = now;
      log.info('injection webhook: certificate reloaded', { dir });
    } catch (error) {
      // Mid-rotation the pair may not match yet: keep the last good one and look again.
      log.warn('injection webhook: certificate files changed but do not load; keeping the previous one', {
        error: (error as Error).message,
      });
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
