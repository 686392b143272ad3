export * from './coordinator';
export * from './run-directory';
export * from './progress';
export { saveModel } from './model-writer';
export * from './placement';
