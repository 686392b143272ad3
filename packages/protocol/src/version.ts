/**
 * Bumped whenever a control message changes shape; peers with another version are refused at join.
 * 3: the aggregator state fields of `params` and `assign.resume`, `taskWeights` of `step`, and run
 * configs naming aggregators (rlw, imtl, aligned, gradvac, gls, nash, fairgrad) and architectures
 * (cgc, ple, dselect-k, cross-stitch), and their fields, that version 2 cannot parse.
 */
export const PROTOCOL_VERSION = 3;
