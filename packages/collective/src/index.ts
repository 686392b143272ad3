export { PeerListener, DEFAULT_MAX_FRAME_BYTES } from './listener';
export { ProcessGroup, DEFAULT_CHUNK_BYTES } from './group';
export type { PeerAddress, ConnectOptions, GroupStats } from './group';
export { CollectiveError } from './errors';
export { localHostKey, MAX_LOCAL_SOCKET_NAME } from './local-socket';
export type { LocalEndpoint } from './local-socket';
export { runAllReduceBenchmark, runPointToPointBenchmark } from './bench';
export type { AllReduceBenchmarkOptions, AllReduceBenchmarkResult, PointToPointBenchmarkResult } from './bench';
export type { ListenOptions } from './listener';
