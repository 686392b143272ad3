// TensorFlow.js layers-format files (model.json + weights.bin) from Node. Plain
// @tensorflow/tfjs has no file:// handler (that lives in tfjs-node), so this is a small
// IOHandler that saves and loads through node:fs.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import type { io } from '@tensorflow/tfjs';
import { tfRef } from './backend';
import type { MtlModel } from './model';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** Writes via a temp file and rename so a reader never sees a half-written file. */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** A manifest path must stay inside the model directory. */
function resolveInside(dir: string, p: string): string {
  const rel = normalize(p);
  if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) throw new Error(`weights path '${p}' escapes the model directory`);
  return join(dir, rel);
}

/** IOHandler for `dir/model.json` + `dir/weights.bin`: use with model.save() or tf.loadLayersModel(). */
export function fileSystemHandler(dir: string): io.IOHandler {
  const tf = tfRef();
  return {
    async save(artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new Error('fileSystemHandler saves JSON model topologies only');
      mkdirSync(dir, { recursive: true });
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      const modelJSON: Record<string, unknown> = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig) modelJSON.trainingConfig = artifacts.trainingConfig;
      if (artifacts.signature) modelJSON.signature = artifacts.signature;
      if (artifacts.userDefinedMetadata) modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
      // Weights first: model.json appearing last means the pair is complete.
      writeAtomic(join(dir, WEIGHTS_BIN), new Uint8Array(weightData));
      writeAtomic(join(dir, MODEL_JSON), JSON.stringify(modelJSON));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON({ ...artifacts, weightData }) };
    },

    async load(): Promise<io.ModelArtifacts> {
      const modelJSON = JSON.parse(readFileSync(join(dir, MODEL_JSON), 'utf8')) as io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs: io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const b = readFileSync(resolveInside(dir, p));
            buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
          }
        }
        return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
      });
    },
  };
}

/** Writes the model as dir/model.json + dir/weights.bin (TensorFlow.js layers format). */
export async function saveLayersModel(model: MtlModel, dir: string): Promise<void> {
  const lm = model.toLayersModel();
  try {
    await lm.save(tfRef().io.withSaveHandler((artifacts) => fileSystemHandler(dir).save!(artifacts)));
  } finally {
    lm.dispose();
  }
}
