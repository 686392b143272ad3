import { MtlModel, saveLayersModel, selectBackend, type ModelSpec } from '@mtl/mtl';
import type { RunConfig } from '@mtl/protocol';

export interface ModelArtifactSpec {
  config: RunConfig;
  inputDim: number;
}

export function modelSpecOf(config: RunConfig, inputDim: number): ModelSpec {
  return {
    inputDim,
    trunk: config.model.trunk,
    head: config.model.head,
    activation: config.model.activation,
    tasks: config.tasks.map((t) => ({ name: t.name, type: t.type })),
  };
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
