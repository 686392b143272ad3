import { MtlModel, saveLayersModel, selectBackend } from '@mtl/mtl';
import { modelSpecOf, type RunConfig } from '@mtl/protocol';

export interface ModelArtifactSpec {
  config: RunConfig;
  inputDim: number;
}

/**
 * Rebuild the model from the run spec, load the received parameters and save it in TensorFlow.js layers
 * format. The coordinator uses the pure-JS backend for this: it is not on any hot path.
 */
export async function saveModel(spec: ModelArtifactSpec, params: Float32Array, dir: string): Promise<void> {
  await selectBackend('cpu');
  const model = MtlModel.create(modelSpecOf(spec.config, spec.inputDim), spec.config.seed);
  try {
    model.setParams(params);
    await saveLayersModel(model, dir);
  } finally {
    model.dispose();
  }
}
