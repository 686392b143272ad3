import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Shared-secret authentication used on every connection, control and peer.
 * The listener sends a random nonce; the dialler answers HMAC-SHA256(secret, role | nonce).
 * The role is bound into the MAC so a proof made for one kind of connection cannot be replayed on another.
 */

export const NONCE_BYTES = 32;
export const SECRET_ENV = 'MTL_SECRET';

export class AuthError extends Error {
  override name = 'AuthError';
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** A fresh random secret, hex encoded (what the local launcher hands its children). */
export function generateSecret(): string {
  return randomBytes(32).toString('hex');
}

export function proveSecret(secret: Uint8Array | string, nonce: Uint8Array, role: string): Buffer {
  return createHmac('sha256', secret).update(role).update('\0').update(nonce).digest();
}

export function verifyProof(secret: Uint8Array | string, nonce: Uint8Array, role: string, proof: Uint8Array): boolean {
  const expected = proveSecret(secret, nonce, role);
  if (!(proof instanceof Uint8Array) || proof.length !== expected.length) return false;
  return timingSafeEqual(expected, proof);
}

/**
 * Resolve the shared secret: an explicit file wins, then the environment variable.
 * Errors name the file or variable so a misconfigured host says what to fix.
 */
export function loadSecret(opts: { file?: string; env?: NodeJS.ProcessEnv; envName?: string } = {}): string {
  const envName = opts.envName ?? SECRET_ENV;
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new AuthError(`cannot read secret file ${opts.file}: ${(err as Error).message}`);
    }
    const secret = text.trim();
    if (secret.length < 16) throw new AuthError(`secret file ${opts.file} holds ${secret.length} characters; at least 16 are required`);
    return secret;
  }
  const fromEnv = (opts.env ?? process.env)[envName];
  if (fromEnv !== undefined) {
    const secret = fromEnv.trim();
    if (secret.length < 16) throw new AuthError(`environment variable ${envName} holds ${secret.length} characters; at least 16 are required`);
    return secret;
  }
  throw new AuthError(`no shared secret: pass --secret-file FILE or set ${envName} (at least 16 characters; every coordinator and worker of a run must use the same one)`);
}
