import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CONTROL_FRAME_BYTES,
  ProtocolError,
  Reassembler,
  controlFrameBytes,
  decodeMessage,
  encodeFrames,
  encodeMessage,
  type ControlMessage,
} from '../src';

function checkpoint(bytes: number): ControlMessage {
  const params = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) params[i] = (i * 31 + 7) & 0xff;
  return { type: 'params', step: 40, reason: 'checkpoint', params, checksum: 'abc', optimizer: { stepCount: 40, buffers: [params.slice(0, 1000), params.slice(5)] } };
}

/** The frames of `msg`, decoded (as a receiver sees them before joining). */
function framesOf(msg: ControlMessage, limit: number, id = 1): ControlMessage[] {
  return encodeFrames(msg, limit, id).map((f) => decodeMessage(f));
}

function fragment(id: number, index: number, count: number, total: number, data: Uint8Array): ControlMessage {
  return { type: 'fragment', id, index, count, total, data };
}

describe('fragments', () => {
  it('sends a message that fits as one frame, and passes it through the reassembler', () => {
    const msg: ControlMessage = { type: 'heartbeat', t: 5 };
    const frames = encodeFrames(msg, 4096, 0);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toEqual(encodeMessage(msg));
    expect(new Reassembler().push(decodeMessage(frames[0]!))).toEqual(msg);
  });

  it('splits a large message into frames within the limit and joins them back to the same message', () => {
    const msg = checkpoint(100_000);
    const frames = encodeFrames(msg, 4096, 9);
    expect(frames.length).toBeGreaterThan(25);
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(4096);
    const r = new Reassembler();
    const out = frames.map((f) => r.push(decodeMessage(f)));
    expect(out.slice(0, -1).every((m) => m === undefined)).toBe(true);
    expect(r.pending).toBe(false);
    expect(out.at(-1)).toEqual(decodeMessage(encodeMessage(msg)));
    // The next message on the connection is taken as it comes.
    expect(r.push({ type: 'heartbeat', t: 1 })).toEqual({ type: 'heartbeat', t: 1 });
  });

  it('joins consecutive fragmented messages one after the other', () => {
    const r = new Reassembler();
    for (const [id, n] of [[1, 9000], [2, 20_000]] as const) {
      const got = framesOf(checkpoint(n), 4096, id).map((m) => r.push(m)).at(-1) as { params: Uint8Array };
      expect(got.params.length).toBe(n);
    }
  });

  it('refuses fragments out of order, from another message, or with other counts', () => {
    const parts = framesOf(checkpoint(20_000), 4096, 3) as Array<ControlMessage & { type: 'fragment' }>;
    expect(() => new Reassembler().push(parts[1]!)).toThrow(/fragment 1 of \d+ of message 3 arrived without fragment 0/);
    let r = new Reassembler();
    r.push(parts[0]!);
    expect(() => r.push(parts[2]!)).toThrow(/fragment 2 of \d+ of message 3 arrived where fragment 1 was due/);
    r = new Reassembler();
    r.push(parts[0]!);
    expect(() => r.push({ ...parts[1]!, id: 4 })).toThrow(/fragment 1 of \d+ of message 4 arrived while message 3 still lacks fragments 1\.\.\d+/);
    r = new Reassembler();
    r.push(parts[0]!);
    expect(() => r.push({ ...parts[1]!, count: parts[1]!.count + 1 })).toThrow(/says \d+ parts of \d+ bytes, fragment 0 said \d+ parts/);
    r = new Reassembler();
    r.push(parts[0]!);
    expect(() => r.push({ type: 'heartbeat', t: 1 })).toThrow(/heartbeat message arrived after fragment 0 of \d+ of message 3; a fragmented message's parts must be consecutive/);
  });

  it('refuses sizes that do not add up, an index out of range, empty parts and messages over the limit', () => {
    const d = new Uint8Array(10);
    let r = new Reassembler();
    r.push(fragment(1, 0, 2, 15, d));
    expect(() => r.push(fragment(1, 1, 2, 15, d))).toThrow(/brings the message to 20 bytes, more than the 15 it announced/);
    r = new Reassembler();
    r.push(fragment(1, 0, 2, 25, d));
    expect(() => r.push(fragment(1, 1, 2, 25, d))).toThrow(/message 1 ended after 2 fragments with 20 of the 25 bytes it announced/);
    expect(() => new Reassembler().push(fragment(1, 2, 2, 20, d))).toThrow(/fragment 2 of 2 of message 1: the index is out of range/);
    expect(() => new Reassembler().push(fragment(1, 0, 2, 20, new Uint8Array(0)))).toThrow(/carries no data/);
    expect(() => new Reassembler(1000).push(fragment(1, 0, 2, 1001, d))).toThrow(/announces 1001 bytes, more than the 1000-byte limit of a message/);
  });

  it('refuses joined bytes that are not a message, and a fragment inside fragments', () => {
    const junk = new Uint8Array([0xc1, 0xc1, 0xc1, 0xc1]);
    const r = new Reassembler();
    r.push(fragment(1, 0, 2, 8, junk));
    expect(() => r.push(fragment(1, 1, 2, 8, junk))).toThrow(ProtocolError);
    const inner = encodeMessage(fragment(7, 0, 2, 10, new Uint8Array(5)));
    const half = Math.ceil(inner.length / 2);
    const r2 = new Reassembler();
    r2.push(fragment(2, 0, 2, inner.length, inner.subarray(0, half)));
    expect(() => r2.push(fragment(2, 1, 2, inner.length, inner.subarray(half)))).toThrow(/message 2 is a fragment inside fragments/);
  });

  it('the frame limit comes from MTL_CONTROL_FRAME_BYTES, and a bad value is named', () => {
    expect(controlFrameBytes({})).toBe(DEFAULT_CONTROL_FRAME_BYTES);
    expect(controlFrameBytes({ MTL_CONTROL_FRAME_BYTES: '65536' })).toBe(65536);
    expect(() => controlFrameBytes({ MTL_CONTROL_FRAME_BYTES: '100' })).toThrow(/MTL_CONTROL_FRAME_BYTES must be an integer of at least 4096, got "100"/);
    expect(() => controlFrameBytes({ MTL_CONTROL_FRAME_BYTES: 'lots' })).toThrow(/MTL_CONTROL_FRAME_BYTES/);
  });
});
