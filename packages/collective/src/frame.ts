import { FrameDefect } from './errors';

/**
 * Data-plane frame: one WebSocket binary message = a fixed 32-byte header
 * followed by the raw float32 payload (little endian, as Float32Array is on
 * every platform Node runs on). The header length is a multiple of 4 so a
 * message buffer starting on a 4-byte boundary yields an aligned payload view
 * (the receiver does not rely on that: it streams payloads from arbitrary offsets).
 *
 *   0  u32 magic 'MTLC'
 *   4  u8  version
 *   5  u8  op kind
 *   6  u16 step        position of this hop in the op's schedule
 *   8  u32 group id    bit mask of the world ranks in the group
 *  12  u32 seq         op sequence number within the group
 *  16  u32 chunk       chunk index within the step
 *  20  u32 total       element count of the op (per rank for allGather)
 *  24  u32 aux         broadcast root, otherwise 0
 *  28  u32 bytes       payload byte length; must equal message length - 32
 */

export const MAGIC = 0x434c544d; // 'MTLC' read as little-endian u32
export const VERSION = 1;
export const HEADER_BYTES = 32;

export enum OpKind {
  AllReduce = 1,
  Broadcast = 2,
  AllGather = 3,
  Barrier = 4,
}

export const OP_NAMES: Record<number, string> = {
  [OpKind.AllReduce]: 'allReduce',
  [OpKind.Broadcast]: 'broadcast',
  [OpKind.AllGather]: 'allGather',
  [OpKind.Barrier]: 'barrier',
};

export interface FrameHeader {
  kind: OpKind;
  step: number;
  group: number;
  seq: number;
  chunk: number;
  total: number;
  aux: number;
  bytes: number;
}

export function writeHeader(buf: Buffer, h: FrameHeader): void {
  buf.writeUInt32LE(MAGIC, 0);
  buf[4] = VERSION;
  buf[5] = h.kind;
  buf.writeUInt16LE(h.step, 6);
  buf.writeUInt32LE(h.group >>> 0, 8);
  buf.writeUInt32LE(h.seq >>> 0, 12);
  buf.writeUInt32LE(h.chunk, 16);
  buf.writeUInt32LE(h.total, 20);
  buf.writeUInt32LE(h.aux, 24);
  buf.writeUInt32LE(h.bytes, 28);
}

/** Strict decode; throws FrameDefect describing the first problem found. */
export function decodeHeader(buf: Buffer, frameLength: number = buf.length): FrameHeader {
  if (frameLength < HEADER_BYTES || buf.length < HEADER_BYTES) throw new FrameDefect(`short frame: ${frameLength} bytes, header needs ${HEADER_BYTES}`);
  const magic = buf.readUInt32LE(0);
  if (magic !== MAGIC) throw new FrameDefect(`bad magic 0x${magic.toString(16).padStart(8, '0')}`);
  if (buf[4] !== VERSION) throw new FrameDefect(`unsupported frame version ${buf[4]} (expected ${VERSION})`);
  const kind = buf[5]!;
  if (OP_NAMES[kind] === undefined) throw new FrameDefect(`unknown op kind ${kind}`);
  const bytes = buf.readUInt32LE(28);
  if (bytes !== frameLength - HEADER_BYTES) {
    throw new FrameDefect(`length mismatch: header says ${bytes} payload bytes, frame carries ${frameLength - HEADER_BYTES}`);
  }
  if (bytes % 4 !== 0) throw new FrameDefect(`payload of ${bytes} bytes is not whole float32 values`);
  return {
    kind: kind as OpKind,
    step: buf.readUInt16LE(6),
    group: buf.readUInt32LE(8),
    seq: buf.readUInt32LE(12),
    chunk: buf.readUInt32LE(16),
    total: buf.readUInt32LE(20),
    aux: buf.readUInt32LE(24),
    bytes,
  };
}

