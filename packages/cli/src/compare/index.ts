export { compareCommand, forwardedFlags } from './command';
export { loadRunDir, labelRuns, RunDirError, type LoadedRun } from './run-dir';
export { buildComparison, parseTargets, formatValue, type Comparison, type Row, type Target } from './analyze';
