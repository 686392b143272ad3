import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthError, generateSecret, loadSecret, newNonce, proveSecret, verifyProof } from '../src';

describe('HMAC challenge-response', () => {
  const secret = generateSecret();

  it('accepts the right secret and role', () => {
    const nonce = newNonce();
    expect(verifyProof(secret, nonce, 'worker', proveSecret(secret, nonce, 'worker'))).toBe(true);
  });

  it('rejects a wrong secret, another role, another nonce and a truncated proof', () => {
    const nonce = newNonce();
    const proof = proveSecret(secret, nonce, 'worker');
    expect(verifyProof(generateSecret(), nonce, 'worker', proof)).toBe(false);
    expect(verifyProof(secret, nonce, 'peer:run', proof)).toBe(false);
    expect(verifyProof(secret, newNonce(), 'worker', proof)).toBe(false);
    expect(verifyProof(secret, nonce, 'worker', proof.subarray(0, 16))).toBe(false);
  });

  it('loads a secret from a file, then the environment, and names what is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtl-secret-'));
    const file = join(dir, 'secret');
    writeFileSync(file, 'a'.repeat(32) + '\n');
    expect(loadSecret({ file })).toBe('a'.repeat(32));
    expect(loadSecret({ env: { MTL_SECRET: 'b'.repeat(20) } })).toBe('b'.repeat(20));
    expect(() => loadSecret({ file: join(dir, 'nope') })).toThrow(/cannot read secret file .*nope/);
    writeFileSync(file, 'short');
    expect(() => loadSecret({ file })).toThrow(AuthError);
    expect(() => loadSecret({ env: {} })).toThrow(/--secret-file FILE or set MTL_SECRET/);
  });
});
