export * from './auth';
export * from './version';
export * from './errors';
export * from './messages';
export * from './run-config';
export * from './codec';
export * from './logging';
export * from './fragments';
