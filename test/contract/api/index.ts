import { authzContract } from '../authz.contract.ts';
import { badInputContract } from '../bad-input.contract.ts';
import type { ApiTarget } from '../target.ts';
import { assignmentsContract } from './assignments.contract.ts';
import { auditContract } from './audit.contract.ts';
import { bootContract } from './boot.contract.ts';
import { callbacksContract } from './callbacks.contract.ts';
import { eventsContract } from './events.contract.ts';
import { filesContract } from './files.contract.ts';
import { imagesContract } from './images.contract.ts';
import { imagingContract } from './imaging.contract.ts';
import { machinesContract } from './machines.contract.ts';
import { observabilityContract } from './observability.contract.ts';
import { powerContract } from './power.contract.ts';
import { profilesContract } from './profiles.contract.ts';
import { relayReleasesContract } from './relay-releases.contract.ts';
import { relaysContract } from './relays.contract.ts';
import { signedChainContract } from './signed-chain.contract.ts';
import { sitesContract } from './sites.contract.ts';
import { syncContract } from './sync.contract.ts';
import { timelineContract } from './timeline.contract.ts';
import { tokensContract } from './tokens.contract.ts';
import { webhooksContract } from './webhooks.contract.ts';

/** Every resource's contract, run against one target (a column). */
export function apiContract(target: () => ApiTarget): void {
  sitesContract(target);
  tokensContract(target);
  relaysContract(target);
  relayReleasesContract(target);
  auditContract(target);
  authzContract(target);
  badInputContract(target);
  machinesContract(target);
  profilesContract(target);
  assignmentsContract(target);
  imagesContract(target);
  signedChainContract(target);
  bootContract(target);
  callbacksContract(target);
  imagingContract(target);
  eventsContract(target);
  timelineContract(target);
  syncContract(target);
  filesContract(target);
  powerContract(target);
  webhooksContract(target);
  observabilityContract(target);
}
