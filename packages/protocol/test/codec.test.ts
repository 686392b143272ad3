import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import {
  PROTOCOL_VERSION,
  ProtocolError,
  bytesToFloat32,
  decodeMessage,
  encodeMessage,
  float32ToBytes,
  runConfigSchema,
} from '../src';

const packr = new Packr({ useRecords: false });

describe('control codec', () => {
  it('round-trips every field of a step report', () => {
    const msg = {
      type: 'step' as const,
      rank: 1,
      step: 7,
      epoch: 0,
      losses: { a: 0.5 },
      counts: { a: 128 },
      samples: 128,
      computeMs: 1.5,
      commMs: 0.25,
      updateMs: 0.1,
      bytesSent: 4096,
      tensors: 12,
    };
    expect(decodeMessage(encodeMessage(msg))).toEqual(msg);
  });

  it('carries parameters as raw float32 bytes', () => {
    const params = new Float32Array([1, -2.5, 3e-8, Number.MAX_VALUE > 1 ? 3.4e38 : 0]);
    const msg = encodeMessage({
      type: 'params',
      step: 3,
      reason: 'final',
      params: float32ToBytes(params),
      checksum: 'abc',
      optimizer: { stepCount: 3, buffers: [float32ToBytes(params)] },
    });
    const back = decodeMessage(msg);
    if (back.type !== 'params') throw new Error('wrong type');
    expect(Array.from(bytesToFloat32(back.params))).toEqual(Array.from(params));
  });

  it('refuses another protocol version with both versions named', () => {
    const frame = packr.pack({ v: PROTOCOL_VERSION + 1, type: 'heartbeat', t: 1 });
    expect(() => decodeMessage(frame)).toThrow(new RegExp(`protocol version mismatch: peer speaks ${PROTOCOL_VERSION + 1}, this build speaks ${PROTOCOL_VERSION}`));
  });

  it('names the invalid field', () => {
    const frame = packr.pack({ v: PROTOCOL_VERSION, type: 'hello', proof: Buffer.alloc(32), name: 'w', host: 'h', dataPort: 70000, pid: 1 });
    expect(() => decodeMessage(frame)).toThrow(/invalid hello message: dataPort/);
  });

  it('carries a worker\'s Unix socket for peers of its host, and names a bad one', () => {
    const local = { hostKey: '3f0c2a9e-1b2c-4d5e-8f90-123456789abc/4026531840', socket: 'mtl-data-42-0123456789abcdef' };
    const hello = { v: PROTOCOL_VERSION, type: 'hello', proof: Buffer.alloc(32), name: 'w', host: 'h', dataPort: 7000, pid: 1 };
    expect(decodeMessage(packr.pack({ ...hello, local }))).toMatchObject({ type: 'hello', local });
    expect(() => decodeMessage(packr.pack({ ...hello, local: { ...local, socket: 'x'.repeat(108) } }))).toThrow(/invalid hello message: local\.socket/);
    expect(() => decodeMessage(packr.pack({ ...hello, local: { hostKey: local.hostKey } }))).toThrow(/invalid hello message: local\.socket/);
    const assign = (peer: object) => packr.pack({ v: PROTOCOL_VERSION, type: 'assign', rank: 0, world: 1, peers: [peer], run: { runId: 'r', batchSize: 8 }, startStep: 0 });
    expect(decodeMessage(assign({ rank: 0, host: '127.0.0.1', port: 9000, local }))).toMatchObject({ peers: [{ local }] });
    expect(() => decodeMessage(assign({ rank: 0, host: '127.0.0.1', port: 9000, local: { ...local, path: '/tmp/x' } }))).toThrow(/invalid assign message: peers\.0\.local/);
  });

  it('rejects unknown types, non-maps and garbage bytes with a ProtocolError', () => {
    expect(() => decodeMessage(packr.pack({ v: PROTOCOL_VERSION, type: 'launch-missiles' }))).toThrow(/unknown message type "launch-missiles"/);
    expect(() => decodeMessage(packr.pack([1, 2, 3]))).toThrow(/not a map \(got array\)/);
    expect(() => decodeMessage(Buffer.from([0xc1, 0xff, 0x00]))).toThrow(ProtocolError);
    expect(() => decodeMessage(Buffer.alloc(0))).toThrow(ProtocolError);
  });

  it('validates the run config carried in an assignment', () => {
    const frame = packr.pack({
      v: PROTOCOL_VERSION,
      type: 'assign',
      rank: 0,
      world: 1,
      peers: [{ rank: 0, host: '127.0.0.1', port: 9000 }],
      run: { runId: 'r', batchSize: 0 },
      startStep: 0,
    });
    expect(() => decodeMessage(frame)).toThrow(/run\.batchSize/);
  });

  it('rejects misaligned-length float payloads', () => {
    expect(() => bytesToFloat32(new Uint8Array(5))).toThrow(/not a multiple of 4/);
    const odd = new Uint8Array(9).subarray(1);
    odd.set(new Uint8Array(new Float32Array([2, 3]).buffer));
    expect(Array.from(bytesToFloat32(odd))).toEqual([2, 3]);
  });
});

describe('run config', () => {
  it('fills defaults and keeps explicit values', () => {
    const cfg = runConfigSchema.parse({ runId: 'r', batchSize: 32, model: { trunk: [8] } });
    expect(cfg.batchSize).toBe(32);
    expect(cfg.model).toEqual({ trunk: [8], head: [], activation: 'relu', architecture: 'hps', experts: 4, taskExperts: 1, levels: 2, k: 2, gamma: 1 });
    expect(cfg.optimizer.name).toBe('adam');
    expect(cfg.data.source).toBe('synthetic');
  });

  it('rejects unknown fields and bad task types by path', () => {
    const r = runConfigSchema.safeParse({ runId: 'r', optimiser: {}, tasks: [{ name: 'y', type: 'multiclass:1' }] });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toContain('tasks.0.type');
    expect(r.error!.issues.some((i) => i.code === 'unrecognized_keys')).toBe(true);
  });
});
