import * as http2 from 'node:http2';
import { ResourceCache } from '../../src/cache/cache.js';
import { RECEIVE_WINDOW } from '../../src/xds/receive-window.js';
import { XdsServer } from '../../src/xds/server.js';

const DEFAULT_WINDOW = 65535; // HTTP/2's initial window, for streams and for the connection

/** What a client connecting to the port may send before the server must grant more. */
async function windowsGrantedBy(port: number): Promise<{ stream: number; connection: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', reject);
    });
    // The connection's window comes in a WINDOW_UPDATE right after the server's SETTINGS: a ping's
    // round trip is over once both have been read.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    return { stream: session.remoteSettings.initialWindowSize ?? DEFAULT_WINDOW, connection: session.state.remoteWindowSize ?? 0 };
  } finally {
    session.close();
  }
}

describe('receive windows', () => {
  it("are the xDS port's RECEIVE_WINDOW for each stream and the connection, not HTTP/2's 64 KiB", async () => {
    expect(RECEIVE_WINDOW).toBeGreaterThan(16 * DEFAULT_WINDOW);
    const server = new XdsServer({ cache: new ResourceCache() });
    const port = await server.start(0);
    try {
      expect(await windowsGrantedBy(port)).toEqual({ stream: RECEIVE_WINDOW, connection: RECEIVE_WINDOW });
    } finally {
      await server.shutdown();
    }
  });
});
