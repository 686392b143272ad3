// Control messages larger than one frame travel as `fragment` messages: a checkpoint, the final
// model or a resume assignment holds the parameters and the optimizer state (12 bytes a parameter
// with Adam), which outgrows any sensible WebSocket frame limit. The sender encodes the message
// once and sends its bytes in consecutive fragments; the receiver joins them and decodes the
// result. Fragments of one message are sent back to back from one synchronous loop, so nothing
// else is ever between them on a connection: anything else there is a protocol error.
import { constants } from 'node:buffer';
import { encodeMessage, decodeMessage } from './codec';
import { ProtocolError } from './errors';
import type { ControlMessage, MessageOf } from './messages';

/** The largest control frame by default (either side refuses larger frames and fragments larger messages). */
export const DEFAULT_CONTROL_FRAME_BYTES = 64 * 1024 * 1024;
/** Room for a fragment's own fields around its data. */
const FRAGMENT_OVERHEAD = 256;
/** The smallest frame limit that still leaves fragments some data. */
export const MIN_CONTROL_FRAME_BYTES = 4096;

/** The control plane's frame limit: MTL_CONTROL_FRAME_BYTES when set (tests use small ones), else the default. */
export function controlFrameBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MTL_CONTROL_FRAME_BYTES;
  if (raw === undefined || raw === '') return DEFAULT_CONTROL_FRAME_BYTES;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < MIN_CONTROL_FRAME_BYTES || v > constants.MAX_LENGTH) {
    throw new ProtocolError(`MTL_CONTROL_FRAME_BYTES must be an integer of at least ${MIN_CONTROL_FRAME_BYTES}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** The frames that carry `msg` under a frame limit of `frameBytes`: the message itself, or its fragments. */
export function encodeFrames(msg: ControlMessage, frameBytes: number, id: number): Buffer[] {
  const whole = encodeMessage(msg);
  if (whole.length <= frameBytes) return [whole];
  if (frameBytes < MIN_CONTROL_FRAME_BYTES) throw new RangeError(`frame limit ${frameBytes} is below ${MIN_CONTROL_FRAME_BYTES} bytes`);
  const part = frameBytes - FRAGMENT_OVERHEAD;
  const count = Math.ceil(whole.length / part);
  const frames: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const data = whole.subarray(index * part, Math.min(whole.length, (index + 1) * part));
    frames.push(encodeMessage({ type: 'fragment', id, index, count, total: whole.length, data }));
  }
  return frames;
}

/**
 * Joins the fragments of one message at a time, per connection. push() returns a complete message
 * (a message that was not fragmented passes straight through), or undefined while parts are
 * missing; a defect throws ProtocolError saying what is wrong.
 */
export class Reassembler {
  private current?: { id: number; count: number; total: number; parts: Uint8Array[]; bytes: number };

  constructor(private readonly maxMessageBytes: number = constants.MAX_LENGTH) {}

  /** Whether a fragmented message is half received. */
  get pending(): boolean {
    return this.current !== undefined;
  }

  push(msg: ControlMessage): ControlMessage | undefined {
    if (msg.type !== 'fragment') {
      if (this.current) throw new ProtocolError(`${msg.type} message arrived after fragment ${this.current.parts.length - 1} of ${this.current.count} of message ${this.current.id}; a fragmented message's parts must be consecutive`);
      return msg;
    }
    return this.fragment(msg);
  }

  private fragment(f: MessageOf<'fragment'>): ControlMessage | undefined {
    const at = `fragment ${f.index} of ${f.count} of message ${f.id}`;
    if (f.index >= f.count) throw new ProtocolError(`${at}: the index is out of range`);
    let cur = this.current;
    if (!cur) {
      if (f.index !== 0) throw new ProtocolError(`${at} arrived without fragment 0`);
      if (f.total > this.maxMessageBytes) throw new ProtocolError(`${at} announces ${f.total} bytes, more than the ${this.maxMessageBytes}-byte limit of a message`);
      cur = this.current = { id: f.id, count: f.count, total: f.total, parts: [], bytes: 0 };
    } else {
      if (f.id !== cur.id) throw new ProtocolError(`${at} arrived while message ${cur.id} still lacks fragments ${cur.parts.length}..${cur.count - 1}`);
      if (f.index !== cur.parts.length) throw new ProtocolError(`${at} arrived where fragment ${cur.parts.length} was due`);
      if (f.count !== cur.count || f.total !== cur.total) throw new ProtocolError(`${at} says ${f.count} parts of ${f.total} bytes, fragment 0 said ${cur.count} parts of ${cur.total} bytes`);
    }
    if (f.data.length === 0) throw new ProtocolError(`${at} carries no data`);
    cur.bytes += f.data.length;
    if (cur.bytes > cur.total) throw new ProtocolError(`${at} brings the message to ${cur.bytes} bytes, more than the ${cur.total} it announced`);
    cur.parts.push(f.data);
    if (cur.parts.length < cur.count) return undefined;
    this.current = undefined;
    if (cur.bytes !== cur.total) throw new ProtocolError(`message ${cur.id} ended after ${cur.count} fragments with ${cur.bytes} of the ${cur.total} bytes it announced`);
    const whole = decodeMessage(Buffer.concat(cur.parts, cur.total));
    if (whole.type === 'fragment') throw new ProtocolError(`message ${cur.id} is a fragment inside fragments`);
    return whole;
  }
}
