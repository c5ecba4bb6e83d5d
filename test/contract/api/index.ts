import type { ApiTarget } from '../target.ts';
import { sitesContract } from './sites.contract.ts';

/** Every resource's contract, run against one target (a column). */
export function apiContract(target: () => ApiTarget): void {
  sitesContract(target);
}
