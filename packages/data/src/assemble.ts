import type { Dataset, TaskSpec } from './types';

/**
 * Accumulates rows from a file source and builds the Dataset. Missing labels are stored as 0
 * with mask 0; the mask is only attached when some label is actually missing.
 */
export class DatasetBuilder {
  private readonly features: number[] = [];
  private readonly labels: number[][];
  private readonly present: number[][];
  private anyMissing = false;
  size = 0;

  constructor(
    private readonly name: string,
    private readonly inputDim: number,
    private readonly tasks: TaskSpec[],
  ) {
    this.labels = tasks.map(() => []);
    this.present = tasks.map(() => []);
  }

  add(x: ArrayLike<number>, labels: (number | null)[]): void {
    for (let j = 0; j < x.length; j++) this.features.push(x[j]!);
    labels.forEach((v, t) => {
      this.labels[t]!.push(v ?? 0);
      this.present[t]!.push(v === null ? 0 : 1);
      if (v === null) this.anyMissing = true;
    });
    this.size++;
  }

  build(): Dataset {
    const ds: Dataset = {
      name: this.name,
      size: this.size,
      inputDim: this.inputDim,
      features: Float32Array.from(this.features),
      tasks: this.tasks.map((t) => ({ name: t.name, type: t.type })),
      labels: Object.fromEntries(this.tasks.map((t, i) => [t.name, Float32Array.from(this.labels[i]!)])),
    };
    if (this.anyMissing) ds.mask = Object.fromEntries(this.tasks.map((t, i) => [t.name, Uint8Array.from(this.present[i]!)]));
    return ds;
  }
}
