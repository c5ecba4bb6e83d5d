import type { Command } from 'commander';
import type { ApiClient } from '../api-client.ts';
import { contextOf } from '../context.ts';
import { emit } from '../output.ts';

/**
 * `<resource> delete|rm <ref>`: resolve the name/id/MAC to the object, DELETE it, and say which one
 * went, the same way for every resource that has names.
 */
export function addDeleteCommand<T extends { id: string }>(
  cmd: Command,
  o: { noun: string; description: string; argument: string; argHelp: string; collection: string; resolve: (api: ApiClient, ref: string) => Promise<T>; label: (x: T) => string },
): void {
  cmd
    .command('delete')
    .alias('rm')
    .description(o.description)
    .argument(`<${o.argument}>`, o.argHelp)
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const x = await o.resolve(ctx.api(), ref);
      await ctx.api().delete(`/v1/${o.collection}/${x.id}`);
      emit(ctx.out, { deleted: x.id }, () => `deleted ${o.noun} ${o.label(x)} (${x.id})`);
    });
}
