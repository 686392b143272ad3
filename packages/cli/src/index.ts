export { main, buildProgram } from './main';
export { resolveRunConfig, readRunFile, ConfigError } from './run-options';
export { runLocalCluster } from './launcher';
