/**
 * Bumped whenever a control message changes shape; peers with another version are refused at join.
 * 3: the aggregator state fields of `params` and `assign.resume`, `taskWeights` of `step`, and run
 * configs naming aggregators and architectures (and their fields) that version 2 cannot parse.
 */
export const PROTOCOL_VERSION = 3;
