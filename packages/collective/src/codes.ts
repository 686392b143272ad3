/**
 * WebSocket close codes used on peer links (4000-4999 is the application range).
 * A close code tells the other side why the link ended, so it can name the
 * right rank in its own error without guessing.
 */
export const CloseCode = {
  Normal: 1000,
  /** The sending rank's user called abort(); reason = "<origin>|<text>". */
  Aborted: 4000,
  /** The receiving side found a malformed frame on this link. */
  BadFrame: 4001,
  /** The sending rank failed because of another peer; reason = "<origin>|<text>". */
  Relay: 4002,
  AuthFailed: 4003,
  WrongRun: 4004,
  BadRank: 4005,
  ConfigMismatch: 4006,
  Handshake: 4007,
  NoGroup: 4008,
} as const;

/** Close codes that mean "the listener refused you"; retrying cannot help. */
export const REJECT_CODES: ReadonlySet<number> = new Set([
  CloseCode.AuthFailed,
  CloseCode.WrongRun,
  CloseCode.BadRank,
  CloseCode.ConfigMismatch,
  CloseCode.Handshake,
  CloseCode.NoGroup,
]);

/** Close reasons are limited to 123 bytes of UTF-8 by the WebSocket protocol. */
export function closeReason(text: string): string {
  let s = text;
  while (Buffer.byteLength(s) > 123) s = s.slice(0, Math.max(0, s.length - Math.max(1, Buffer.byteLength(s) - 123)));
  return s;
}
