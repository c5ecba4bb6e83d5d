import { authzContract } from '../authz.contract.ts';
import type { ApiTarget } from '../target.ts';
import { auditContract } from './audit.contract.ts';
import { relaysContract } from './relays.contract.ts';
import { sitesContract } from './sites.contract.ts';
import { tokensContract } from './tokens.contract.ts';

/** Every resource's contract, run against one target (a column). */
export function apiContract(target: () => ApiTarget): void {
  sitesContract(target);
  tokensContract(target);
  relaysContract(target);
  auditContract(target);
  authzContract(target);
}
