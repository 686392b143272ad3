import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { MtlProcess, mtl, readJson, tempDir } from './harness';

const env = { MTL_SECRET: 'tls-test-secret-0123456789abcdef' };

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!haveOpenssl())('control plane over TLS (wss)', () => {
  it('trains over wss on both planes; a worker that does not trust the certificate is refused', async () => {
    const dir = tempDir('tls');
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const out = join(dir, 'run');
    const coord = new MtlProcess(['coordinator', '--workers', '2', '--host', '127.0.0.1', '--port', '0', '--tls-cert', cert, '--tls-key', key, '--out', out, '--steps', '10', '--batch-size', '32', '--examples', '512', '--trunk', '8', '--backend', 'cpu'], env);
    try {
      const port = (await coord.waitFor(/coordinator listening.*port=(\d+)/))[1];
      expect(coord.stderr).toMatch(/tls=true/);
      const untrusting = await mtl(['worker', '--coordinator', `wss://127.0.0.1:${port}`, '--advertise', '127.0.0.1', '--bind', '127.0.0.1'], env);
      expect(untrusting.code).toBe(1);
      expect(untrusting.stderr).toMatch(/cannot reach the coordinator at wss:\/\/127\.0\.0\.1:\d+: self[- ]signed certificate/);
      // Both workers also serve their data plane over TLS and trust each other through the same CA.
      const tlsWorker = () => mtl(['worker', '--coordinator', `wss://127.0.0.1:${port}`, '--tls-ca', cert, '--tls-cert', cert, '--tls-key', key, '--advertise', '127.0.0.1', '--bind', '127.0.0.1'], env);
      const [w0, w1] = await Promise.all([tlsWorker(), tlsWorker()]);
      expect(w0.code, w0.stderr).toBe(0);
      expect(w1.code, w1.stderr).toBe(0);
      const c = await coord.exit;
      expect(c.code, c.stderr).toBe(0);
      expect(readJson(join(out, 'summary.json')).status).toBe('completed');
    } finally {
      coord.kill('SIGKILL');
    }
  });
});
