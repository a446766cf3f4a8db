// Starts and stops the sluice gateway under test (`sluice run FILE --port 0`).
import { spawn } from 'node:child_process';
import { sluiceBinary } from './env.mjs';

const LISTENING_RE = /listening on http:\/\/[^\s:]+:(\d+)/;
const MAX_LOG_CHARS = 256 * 1024;

/**
 * Spawns sluice and waits for its "sluice listening on http://127.0.0.1:PORT" line.
 * @param {object} o
 * @param {string} o.resourceFile
 * @param {string[]} [o.args]  extra arguments, e.g. ['--max-request-body-bytes', '1024']
 * @param {number} [o.startTimeoutMs=20000]
 */
export async function startSluice({ resourceFile, args = [], env = {}, startTimeoutMs = 20000 }) {
  const bin = sluiceBinary();
  const argv = ['run', resourceFile, '--address', '127.0.0.1', '--port', '0', ...args];
  const proc = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  const append = (buf, chunk) => (buf + chunk).slice(-MAX_LOG_CHARS);
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => { stderr = append(stderr, c); });

  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let exitStatus = null;
  exited.then((s) => { exitStatus = s; });

  const port = await new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn(v);
    };
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      finish(reject, new Error(`sluice did not print its listening line within ${startTimeoutMs} ms\n` +
        `command: ${bin} ${argv.join(' ')}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    }, startTimeoutMs);
    proc.stdout.on('data', (c) => {
      stdout = append(stdout, c);
      const m = LISTENING_RE.exec(stdout);
      if (m) finish(resolve, Number(m[1]));
    });
    proc.once('error', (err) => finish(reject, new Error(`cannot start ${bin}: ${err.message}`)));
    exited.then(({ code, signal }) => finish(reject, new Error(
      `sluice exited (code ${code}, signal ${signal}) before listening\n` +
      `command: ${bin} ${argv.join(' ')}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`)));
  });

  /** Resolves the exit status, or 'timeout' after timeoutMs (the timer is cleared on exit). */
  const waitExit = (timeoutMs) => {
    let timer;
    const timeout = new Promise((r) => { timer = setTimeout(r, timeoutMs, 'timeout'); });
    return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
  };

  const gw = {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    baseURL: `http://127.0.0.1:${port}/v1`,
    exited,
    waitExit,
    get exitStatus() { return exitStatus; },
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    /** Text to append to a failure: the gateway's output so far. */
    logs() {
      const tail = (s) => (s.length > 8000 ? `...${s.slice(-8000)}` : s);
      return `--- sluice stdout ---\n${tail(stdout)}\n--- sluice stderr ---\n${tail(stderr)}`;
    },
    /** Sends SIGTERM, waits up to timeoutMs for exit, then SIGKILLs. Resolves the exit status. */
    async stop(timeoutMs = 5000) {
      if (exitStatus) return exitStatus;
      proc.kill('SIGTERM');
      if ((await waitExit(timeoutMs)) === 'timeout') {
        proc.kill('SIGKILL');
        await exited;
      }
      return exitStatus;
    },
  };
  return gw;
}

/**
 * Wraps a test body so that a failure message carries the gateway's stdout/stderr.
 * Usage: test('x', withGatewayLogs(() => gw, async (t) => { ... }))
 */
export function withGatewayLogs(getGw, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      const gw = getGw();
      if (gw && err && typeof err === 'object') {
        try {
          err.message = `${err.message}\n${gw.logs()}`;
        } catch { /* read-only message: leave as is */ }
      }
      throw err;
    }
  };
}
