import { env } from 'cloudflare:workers';
import { r2ObjectStore } from '../../cloud/src/adapters/workers/r2-object-store.ts';
import { objectStoreContract } from '../contract/object-store.contract.ts';

// The same contract as memory, folder and S3, inside workerd against the local R2 binding.
objectStoreContract('R2 binding (workerd)', () => r2ObjectStore(env.IMAGES));
