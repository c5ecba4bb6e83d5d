import type { DriverFactory } from '../jobs/execute.ts';
import { ipmitoolDriver, type IpmitoolOptions } from './ipmitool.ts';
import { redfishDriver, type RedfishOptions } from './redfish.ts';

/** The relay's drivers by protocol. */
export function defaultDrivers(opts: { ipmitool?: IpmitoolOptions; redfish?: RedfishOptions } = {}): DriverFactory {
  return (protocol, target) => (protocol === 'ipmi' ? ipmitoolDriver(target, opts.ipmitool) : redfishDriver(target, opts.redfish));
}
