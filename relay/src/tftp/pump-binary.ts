/**
 * Where `edgeboot-tftp-pump` (relay/native/tftp-pump.c, the native TFTP data path) is: see
 * native-file.ts. Null when there is none: the relay then sends TFTP blocks from Node (and says so).
 */
import { nativeAsset, nativeFile } from '../native-file.ts';

export const PUMP_NAME = 'edgeboot-tftp-pump';
export const PUMP_ASSET = nativeAsset(PUMP_NAME);

export const pumpBinary = (stateDir: string): string | null => nativeFile(PUMP_NAME, stateDir);
