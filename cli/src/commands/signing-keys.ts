import { Command } from 'commander';
import type { SigningKeyInfo } from '../../../shared/schemas/file.ts';
import { contextOf } from '../context.ts';
import { emit, formatTable, formatTime } from '../output.ts';

export function signingKeysCommand(): Command {
  const cmd = new Command('signing-keys').description('the keys image URLs are signed with (admin)');
  cmd
    .command('list')
    .alias('ls')
    .description('signing keys, newest first (ids and dates; never a secret)')
    .action(async (_o, c: Command) => {
      const ctx = contextOf(c);
      const { items } = await ctx.api().get<{ items: SigningKeyInfo[] }>('/v1/signing-keys');
      emit(ctx.out, items, (rows) =>
        formatTable(rows, [
          { header: 'kid', value: (k) => k.kid },
          { header: 'created', value: (k) => formatTime(k.createdAt) },
          { header: 'state', value: (k) => (k.retiredAt ? `retired ${formatTime(k.retiredAt)}` : 'signing') },
        ]),
      );
    });
  cmd
    .command('rotate')
    .description('sign new URLs with a new key; URLs signed before keep working')
    .action(async (_o, c: Command) => {
      const ctx = contextOf(c);
      const k = await ctx.api().post<SigningKeyInfo>('/v1/signing-keys/rotate');
      emit(ctx.out, k, () => `new signing key ${k.kid}`);
    });
  return cmd;
}
