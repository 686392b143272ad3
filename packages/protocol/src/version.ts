/** Bumped whenever a control message changes shape; peers with another version are refused at join. */
export const PROTOCOL_VERSION = 2;
