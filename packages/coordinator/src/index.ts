export * from './coordinator';
export * from './run-directory';
export * from './progress';
export { modelSpecOf, saveModel } from './model-writer';
