import { describe } from 'vitest';
import { inProcessTarget } from '../support/in-process.ts';
import { apiContract } from './api/index.ts';

describe('API contract — in-process (SQLite :memory:, memory objects)', () => {
  const target = inProcessTarget();
  apiContract(() => target);
});
