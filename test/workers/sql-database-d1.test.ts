import { env } from 'cloudflare:workers';
import { d1Database } from '../../cloud/src/adapters/workers/d1.ts';
import { sqlDatabaseContract } from '../contract/sql-database.contract.ts';

sqlDatabaseContract('D1 (local, in workerd)', () => d1Database(env.DB));
