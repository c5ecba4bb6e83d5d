import type { DriverFactory } from '../jobs/execute.ts';
import { ipmitoolDriver, type IpmitoolOptions } from './ipmitool.ts';
import { BmcError } from './driver.ts';

/** The relay's drivers by protocol. Redfish lands in redfish.ts; until then its jobs fail with a reason. */
export function defaultDrivers(opts: { ipmitool?: IpmitoolOptions } = {}): DriverFactory {
  return (protocol, target) => {
    if (protocol === 'ipmi') return ipmitoolDriver(target, opts.ipmitool);
    const refuse = async (): Promise<never> => {
      throw new BmcError('tool', 'this relay has no Redfish driver yet');
    };
    return { powerState: refuse, power: refuse, bootFromNetworkOnce: refuse };
  };
}
