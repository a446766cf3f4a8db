// Loopback port helpers.
import net from 'node:net';

/** An ephemeral loopback port that was free a moment ago (nothing listens on it now). */
export function getClosedPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves 'refused' if a TCP connect to port is refused, 'connected' if it succeeds. */
export function probeConnect(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (result) => {
      sock.destroy();
      resolve(result);
    };
    sock.setTimeout(timeoutMs, () => done('timeout'));
    sock.once('connect', () => done('connected'));
    sock.once('error', (err) => done(err.code === 'ECONNREFUSED' ? 'refused' : `error:${err.code}`));
  });
}
