/**
 * Runs the CLI as a process: the exit code of main() becomes the process's, and nothing left on
 * the event loop (an idle keep-alive socket) may hold the exit back. Shared by the bin (sources)
 * and the bundle (scripts/build-cli.ts).
 */
import { main } from './main.ts';

export async function run(argv: string[] = process.argv): Promise<void> {
  const code = await main(argv);
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
}
