// Paths and preconditions shared by the end-to-end tests.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The shared test corpus, read in place (never copied into the repo). */
export const CORPUS_DIR = path.resolve(REPO_ROOT, '../shared/corpus');
export const CASSETTES_DIR = path.join(CORPUS_DIR, 'openai-cassettes');

/** The gateway binary under test: $SLUICE_BIN, else <repo>/build/sluice. */
export function sluiceBinary() {
  return process.env.SLUICE_BIN ? path.resolve(process.env.SLUICE_BIN) : path.join(REPO_ROOT, 'build', 'sluice');
}

/**
 * Returns a skip reason (string) when the sluice binary is missing, else false. With
 * SLUICE_E2E_REQUIRE_BIN=1 a missing binary is an error instead of a skip.
 */
export function sluiceSkipReason() {
  const bin = sluiceBinary();
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return false;
  } catch {
    const msg = `sluice binary not found or not executable at ${bin} (build it, or set SLUICE_BIN); skipping gateway end-to-end tests`;
    if (process.env.SLUICE_E2E_REQUIRE_BIN === '1') throw new Error(msg.replace(/; skipping.*/, ''));
    return msg;
  }
}

/** Returns a skip reason naming the missing corpus path, or false when it exists. */
export function corpusSkipReason(dir = CASSETTES_DIR, what = 'cassette replay tests') {
  if (fs.existsSync(dir)) return false;
  return `corpus not found at ${path.relative(REPO_ROOT, dir)} (${dir}); skipping ${what}`;
}
