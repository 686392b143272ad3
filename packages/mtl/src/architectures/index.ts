import type { ModelSpec } from '../types';
import type { Architecture } from './base';
import { CgcArchitecture } from './cgc';
import { HpsArchitecture } from './hps';
import { MmoeArchitecture } from './mmoe';
import { PleArchitecture } from './ple';

export type { Architecture, DenseDef } from './base';
export { CgcArchitecture, HpsArchitecture, MmoeArchitecture, PleArchitecture };

export function architectureFor(spec: ModelSpec): Architecture {
  switch (spec.architecture ?? 'hps') {
    case 'hps':
      return new HpsArchitecture(spec);
    case 'mmoe':
      return new MmoeArchitecture(spec);
    case 'cgc':
      return new CgcArchitecture(spec);
    case 'ple':
      return new PleArchitecture(spec);
    default:
      throw new Error(`unknown architecture '${spec.architecture}' (expected hps, mmoe, cgc or ple)`);
  }
}
