import type { ModelSpec } from '../types';
import type { Architecture } from './base';
import { CgcArchitecture } from './cgc';
import { CrossStitchArchitecture } from './cross-stitch';
import { DselectKArchitecture } from './dselect-k';
import { HpsArchitecture } from './hps';
import { MmoeArchitecture } from './mmoe';
import { PleArchitecture } from './ple';

export type { Architecture, DenseDef } from './base';
export { CgcArchitecture, CrossStitchArchitecture, DselectKArchitecture, HpsArchitecture, MmoeArchitecture, PleArchitecture };

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
    case 'dselect-k':
      return new DselectKArchitecture(spec);
    case 'cross-stitch':
      return new CrossStitchArchitecture(spec);
    default:
      throw new Error(`unknown architecture '${spec.architecture}' (expected hps, mmoe, cgc, ple, dselect-k or cross-stitch)`);
  }
}
