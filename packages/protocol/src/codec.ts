import { Packr } from 'msgpackr';
import { PROTOCOL_VERSION } from './version';
import { ProtocolError, describeIssues } from './errors';
import { messageSchemas, type ControlMessage, type MessageType } from './messages';

// Plain maps (no record extension) so any msgpack implementation can speak the protocol.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function encodeMessage(msg: ControlMessage): Buffer {
  return packr.pack({ v: PROTOCOL_VERSION, ...msg });
}

/**
 * Decode and validate one control frame. Throws ProtocolError naming the defect: undecodable bytes,
 * a version mismatch, an unknown type, or the first invalid fields.
 */
export function decodeMessage(data: Uint8Array): ControlMessage {
  let raw: unknown;
  try {
    raw = packr.unpack(data);
  } catch (err) {
    throw new ProtocolError(`undecodable control frame (${data.length} bytes): ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ProtocolError(`control frame is not a map (got ${Array.isArray(raw) ? 'array' : typeof raw})`);
  }
  const obj = raw as Record<string, unknown>;
  if (obj.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(`protocol version mismatch: peer speaks ${JSON.stringify(obj.v)}, this build speaks ${PROTOCOL_VERSION}`);
  }
  const type = obj.type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(messageSchemas, type)) {
    throw new ProtocolError(`unknown message type ${JSON.stringify(type)}`);
  }
  const schema = messageSchemas[type as MessageType];
  const { v: _v, type: _t, ...body } = obj;
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ProtocolError(`invalid ${type} message: ${describeIssues(parsed.error.issues)}`);
  return { type, ...(parsed.data as object) } as ControlMessage;
}

/** View raw bytes as float32 values, copying only when the bytes are misaligned. */
export function bytesToFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new ProtocolError(`float32 payload of ${bytes.byteLength} bytes is not a multiple of 4`);
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  // Buffer#slice is a view, so copy through a fresh Uint8Array to get an aligned buffer.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

export function float32ToBytes(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}
