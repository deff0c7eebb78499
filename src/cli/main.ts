#!/usr/bin/env node
/**
 * The `celeriac` command. Runs built (`node dist/cli/main.js`) and from
 * source (`npx tsx src/cli/main.ts`, `node --import tsx src/cli/main.ts`).
 */
import { CommanderError } from 'commander';
import { CliError, ExitCode } from './errors.js';
import { buildProgram } from './program.js';

/** Run the command line `argv` (without node and script); resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let code: number = ExitCode.OK;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    if (err instanceof CliError) {
      process.stderr.write(`celeriac: error: ${err.message}\n`);
      return err.code;
    }
    const e = err as Error;
    process.stderr.write(`celeriac: error: ${e?.name ?? 'Error'}: ${String(e?.message ?? err).split('\n', 1)[0]}\n`);
    if (process.env.CELERIAC_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    return ExitCode.STARTUP;
  }
}

// Exit explicitly: an app module may keep handles (timers, sockets) open.
process.exitCode = await main(process.argv.slice(2));
process.exit();
