import { newNonce, proveSecret, verifyProof } from '@mtl/protocol';

/**
 * Peer link handshake, in JSON text messages before any data frame:
 *
 *   listener -> dialler   challenge { nonce }
 *   dialler  -> listener  hello     { runId, world, from, to, chunkBytes, nonce, proof }
 *   listener -> dialler   welcome   { proof }            (or a close with a reason)
 *
 * The dialler proves the secret bound to role 'peer:<runId>', so a worker of a
 * different run or generation cannot join this ring even with the right secret.
 * The listener proves it back on the dialler's nonce (role 'peer-listener:<runId>'),
 * so a dialler never feeds or accepts gradients from an impostor.
 */

export const HANDSHAKE_VERSION = 1;

export interface Hello {
  runId: string;
  world: number;
  from: number;
  to: number;
  chunkBytes: number;
  nonce: Buffer;
  proof: Buffer;
}

export function dialerRole(runId: string): string {
  return `peer:${runId}`;
}

export function listenerRole(runId: string): string {
  return `peer-listener:${runId}`;
}

export function challengeMessage(nonce: Buffer): string {
  return JSON.stringify({ t: 'challenge', v: HANDSHAKE_VERSION, nonce: nonce.toString('hex') });
}

export function helloMessage(
  secret: string,
  challengeNonce: Buffer,
  h: Omit<Hello, 'proof' | 'nonce'>,
): { text: string; nonce: Buffer } {
  const nonce = newNonce();
  const proof = proveSecret(secret, challengeNonce, dialerRole(h.runId));
  const text = JSON.stringify({
    t: 'hello',
    v: HANDSHAKE_VERSION,
    runId: h.runId,
    world: h.world,
    from: h.from,
    to: h.to,
    chunkBytes: h.chunkBytes,
    nonce: nonce.toString('hex'),
    proof: proof.toString('hex'),
  });
  return { text, nonce };
}

export function welcomeMessage(secret: string, hello: Hello): string {
  const proof = proveSecret(secret, hello.nonce, listenerRole(hello.runId));
  return JSON.stringify({ t: 'welcome', v: HANDSHAKE_VERSION, proof: proof.toString('hex') });
}

/** Parse one handshake message of the expected type; throws an Error whose message is a close reason. */
function parse(data: Buffer, isBinary: boolean, type: string): Record<string, unknown> {
  if (isBinary) throw new Error(`expected ${type} text message, got a binary frame`);
  if (data.length > 4096) throw new Error(`${type} message too long`);
  let msg: unknown;
  try {
    msg = JSON.parse(data.toString('utf8'));
  } catch {
    throw new Error(`${type} message is not JSON`);
  }
  if (typeof msg !== 'object' || msg === null) throw new Error(`${type} message is not an object`);
  const m = msg as Record<string, unknown>;
  if (m['t'] !== type) throw new Error(`expected ${type}, got ${JSON.stringify(m['t'])}`);
  if (m['v'] !== HANDSHAKE_VERSION) throw new Error(`unsupported handshake version ${JSON.stringify(m['v'])}`);
  return m;
}

function hex(m: Record<string, unknown>, key: string, bytes: number): Buffer {
  const v = m[key];
  if (typeof v !== 'string' || v.length !== bytes * 2 || !/^[0-9a-f]*$/.test(v)) throw new Error(`bad ${key}`);
  return Buffer.from(v, 'hex');
}

function int(m: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = m[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Error(`bad ${key}`);
  return v;
}

export function parseChallenge(data: Buffer, isBinary: boolean): Buffer {
  return hex(parse(data, isBinary, 'challenge'), 'nonce', 32);
}

export function parseHello(data: Buffer, isBinary: boolean): Hello {
  const m = parse(data, isBinary, 'hello');
  const runId = m['runId'];
  if (typeof runId !== 'string' || runId.length === 0 || runId.length > 256) throw new Error('bad runId');
  return {
    runId,
    world: int(m, 'world', 1, 32),
    from: int(m, 'from', 0, 31),
    to: int(m, 'to', 0, 31),
    chunkBytes: int(m, 'chunkBytes', 4, 2 ** 31),
    nonce: hex(m, 'nonce', 32),
    proof: hex(m, 'proof', 32),
  };
}

export function verifyHello(secret: string, challengeNonce: Buffer, hello: Hello): boolean {
  return verifyProof(secret, challengeNonce, dialerRole(hello.runId), hello.proof);
}

export function verifyWelcome(secret: string, runId: string, dialerNonce: Buffer, data: Buffer, isBinary: boolean): boolean {
  const proof = hex(parse(data, isBinary, 'welcome'), 'proof', 32);
  return verifyProof(secret, dialerNonce, listenerRole(runId), proof);
}
