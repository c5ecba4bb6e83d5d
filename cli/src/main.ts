/**
 * edgeboot: the operators' command line for the control plane's API.
 *
 * The composition root: it builds the command tree from commands/*, gives every command the same
 * error handling (a CliError or an API error → one message, its hint, its exit code) and turns
 * commander's own usage errors into exit code 2. Nothing here talks to the API.
 */
import { Command, CommanderError } from 'commander';
import { applyCommand } from './commands/apply.ts';
import { assignCommand, assignmentsCommand } from './commands/assignments.ts';
import { auditCommand } from './commands/audit.ts';
import { loginCommand, logoutCommand, statusCommand } from './commands/auth.ts';
import { imagesCommand } from './commands/images.ts';
import { machinesCommand } from './commands/machines.ts';
import { profilesCommand } from './commands/profiles.ts';
import { relaysCommand } from './commands/relays.ts';
import { signingKeysCommand } from './commands/signing-keys.ts';
import { sitesCommand } from './commands/sites.ts';
import { tokensCommand } from './commands/tokens.ts';
import { webhooksCommand } from './commands/webhooks.ts';
import { CliError, ExitStatus } from './errors.ts';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.ts';

export const VERSION = '0.1.0';

const ROOT_HELP = `
Connection: \`edgeboot login\` saves the URL and token in $XDG_CONFIG_HOME/edgeboot/config.json
(~/.config/edgeboot/config.json), mode 0600. EDGEBOOT_URL and EDGEBOOT_TOKEN override it; --url
overrides both.

Examples:
  edgeboot login --url http://127.0.0.1:8787 --token-stdin < admin-token.txt
  edgeboot machines list --site lyon --state failed
  edgeboot images upload ./ubuntu-24.04-live-server-amd64.iso --kind iso
  edgeboot assign 52:54:00:12:34:56 ubuntu-24.04 --once
  edgeboot apply -f fleet.yaml --dry-run

${EXIT_CODES_HELP}`;

const LEAF_HELP = '\nExit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 unauthorized/forbidden, 5 rejected, 6 unavailable (see edgeboot --help).';

export function buildProgram(): Command {
  const program = new Command('edgeboot')
    .description('manage edgeboot sites, relays, machines, images, profiles and assignments through the API')
    .version(VERSION, '-V, --version')
    .option('--json', 'print JSON (the API\'s objects) instead of tables, for scripts')
    .option('--url <url>', 'API base URL for this call (overrides EDGEBOOT_URL and the saved login)')
    .addHelpText('after', ROOT_HELP);
  for (const c of [
    loginCommand(),
    logoutCommand(),
    statusCommand(),
    sitesCommand(),
    relaysCommand(),
    machinesCommand(),
    imagesCommand(),
    profilesCommand(),
    assignCommand(),
    assignmentsCommand(),
    tokensCommand(),
    auditCommand(),
    signingKeysCommand(),
    webhooksCommand(),
    applyCommand(),
  ]) {
    program.addCommand(c);
  }
  configure(program, true);
  return program;
}

/** The same behaviour on every command: throw instead of exiting, short hint after usage errors. */
function configure(cmd: Command, root: boolean): void {
  cmd.exitOverride();
  cmd.showHelpAfterError('(add --help for usage)');
  cmd.allowExcessArguments(false);
  if (!root && cmd.commands.length === 0) cmd.addHelpText('after', LEAF_HELP);
  for (const sub of cmd.commands) configure(sub, false);
}

/** Runs the CLI; resolves to the exit code (the bin calls process.exit with it). */
export async function main(argv: string[] = process.argv): Promise<number> {
  const json = argv.includes('--json');
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    return report(err, json);
  }
}

function report(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.OK;
    if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    return EXIT.USAGE;
  }
  if (err instanceof ExitStatus) return err.exitCode;
  if (err instanceof CliError) {
    if (json) {
      const e = err as CliError & { status?: number; code?: string; requestId?: string | null; issues?: unknown };
      const body = { error: { message: err.message, exitCode: err.exitCode, hint: err.hint ?? null, status: e.status ?? null, code: e.code ?? null, requestId: e.requestId ?? null, issues: e.issues ?? [] } };
      process.stderr.write(`${JSON.stringify(body)}\n`);
    } else {
      const lines = [`error: ${err.message}`, ...err.details];
      if (err.hint) lines.push(`hint: ${err.hint}`);
      process.stderr.write(`${lines.join('\n')}\n`);
    }
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`error: ${e?.message ?? String(err)}\n`);
  if (process.env.EDGEBOOT_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  return EXIT.ERROR;
}

