import type { PowerState } from '../../../shared/schemas/bmc.ts';

/**
 * What a power job needs from a BMC, whatever its protocol (ipmitool.ts: IPMI v2.0 lanplus; redfish.ts).
 * Every call is bounded in time and fails with a BmcError whose message an operator can act on; no
 * message ever carries the password.
 */
export interface BmcDriver {
  powerState(): Promise<PowerState>;
  /** Returns once the BMC accepted the command (the machine may still be starting or stopping). */
  power(action: 'on' | 'off' | 'cycle'): Promise<void>;
  /** Asks the operating system to shut down (ACPI power button); returns once the BMC accepted it. */
  shutdown(): Promise<void>;
  /** The next boot (only) from the network. */
  bootFromNetworkOnce(): Promise<void>;
}

export type BmcFailure =
  | 'auth' // the BMC refused the user or password
  | 'unreachable' // no valid answer in time: down, wrong address, not a BMC, or answering garbage
  | 'refused' // the BMC answered and refused the command
  | 'tls' // the certificate does not match the pinned fingerprint
  | 'protocol' // an answer the driver cannot read
  | 'timeout' // the whole command overran its bound
  | 'tool'; // the local client (ipmitool) is missing or crashed

export class BmcError extends Error {
  readonly reason: BmcFailure;
  constructor(reason: BmcFailure, message: string) {
    super(message);
    this.name = 'BmcError';
    this.reason = reason;
  }
}

export interface BmcTarget {
  address: string;
  username: string;
  password: string;
  systemId?: string | null;
  tlsFingerprint?: string | null;
}
