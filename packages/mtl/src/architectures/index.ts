import type { ModelSpec } from '../types';
import type { Architecture } from './base';
import { HpsArchitecture } from './hps';
import { MmoeArchitecture } from './mmoe';

export type { Architecture, DenseDef } from './base';
export { HpsArchitecture, MmoeArchitecture };

export function architectureFor(spec: ModelSpec): Architecture {
  switch (spec.architecture ?? 'hps') {
    case 'hps':
      return new HpsArchitecture(spec);
    case 'mmoe':
      return new MmoeArchitecture(spec);
    default:
      throw new Error(`unknown architecture '${spec.architecture}' (expected hps or mmoe)`);
  }
}
