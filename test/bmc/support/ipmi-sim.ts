/**
 * OpenIPMI's BMC simulator (`ipmi_sim`, Debian `openipmi`) with a qemu VM behind it, in a network
 * namespace: IPMI v2.0 over LAN (RMCP+) on `addr:port`, and qemu attached through
 * `-chardev socket` + `-device ipmi-bmc-extern` + `-device isa-ipmi-kcs`. The simulator's `startcmd`
 * launches qemu on "power on"; "power off" asks qemu over that socket to stop (and kills it after
 * `poweroff_wait`). So the VM's process is the machine's power state, and the tests read it from
 * qemu's pidfile.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Spawned, Testbed } from '../../support/netns.ts';

export interface IpmiSim {
  sim: Spawned;
  /** `host:port` as the relay's BMC address. */
  address: string;
  username: string;
  password: string;
  /** The pid of the VM's qemu when it runs, else null. */
  vmPid(): number | null;
}

export interface IpmiSimOptions {
  dir: string;
  /** Namespace (of `bed`) where the simulator, and so qemu, run. */
  ns: string;
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** qemu's arguments besides the BMC wiring (machine, memory, disks, NICs). */
  qemuArgs: string[];
  qemu?: string;
}

const quote = (a: string) => (/^[A-Za-z0-9_./:=,@%+-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);

export async function startIpmiSim(bed: Testbed, o: IpmiSimOptions): Promise<IpmiSim> {
  mkdirSync(join(o.dir, 'state'), { recursive: true });
  const username = o.username ?? 'admin';
  const password = o.password ?? 'sim-pw-Q7x';
  const vmPort = o.port + 1;
  const pidfile = join(o.dir, 'qemu.pid');
  const qemu = [
    o.qemu ?? 'qemu-system-x86_64',
    ...o.qemuArgs,
    '-chardev', `socket,id=ipmi0,host=127.0.0.1,port=${vmPort},reconnect=1`,
    '-device', 'ipmi-bmc-extern,id=bmc0,chardev=ipmi0',
    '-device', 'isa-ipmi-kcs,bmc=bmc0',
    '-pidfile', pidfile,
  ];
  writeFileSync(
    join(o.dir, 'lan.conf'),
    [
      'name "edgeboot-test-bmc"',
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr ${o.host} ${o.port}`,
      '    priv_limit admin',
      '    allowed_auths_callback md5',
      '    allowed_auths_user md5',
      '    allowed_auths_operator md5',
      '    allowed_auths_admin md5',
      '    guid a123456789abcdefa123456789abcdef',
      '  endlan',
      `  serial 15 127.0.0.1 ${vmPort} codec VM`,
      `  startcmd "${qemu.map(quote).join(' ').replaceAll('"', '\\"')}"`,
      '  startnow false',
      '  poweroff_wait 5',
      '  kill_wait 2',
      `  user 2 true "${username}" "${password}" admin 10 md5`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(o.dir, 'bmc.emu'), ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr', 'sel_enable 0x20 1000 0x0a', 'mc_enable 0x20', ''].join('\n'));
  const sim = bed.spawn(o.ns, 'ipmi_sim', ['-c', join(o.dir, 'lan.conf'), '-f', join(o.dir, 'bmc.emu'), '-s', join(o.dir, 'state'), '-n'], { cwd: o.dir });
  // It prints nothing when ready: wait until a status query answers.
  for (let i = 0; ; i++) {
    const r = await bed.run(o.ns, 'ipmitool', ['-I', 'lanplus', '-H', o.host, '-p', String(o.port), '-U', username, '-E', '-C', '3', '-N', '1', '-R', '0', 'chassis', 'power', 'status'], {
      env: { ...process.env, IPMI_PASSWORD: password },
    });
    if (/Chassis Power is/.test(r.stdout)) break;
    if (i > 40) throw new Error(`ipmi_sim did not answer: ${sim.stderr.join('\n')} ${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    sim,
    address: `${o.host}:${o.port}`,
    username,
    password,
    vmPid() {
      if (!existsSync(pidfile)) return null;
      const pid = Number(readFileSync(pidfile, 'utf8').trim());
      if (!pid || !existsSync(`/proc/${pid}`)) return null;
      // A zombie is stopped; a recycled pid is not our VM.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/\) Z /.test(stat)) return null;
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(pidfile) ? pid : null;
    },
  };
}
