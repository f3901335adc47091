#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TOOL, VERSION } from './context';
import { StfError } from './errors';
import * as ansible from './commands/ansible';
import * as doctor from './commands/doctor';
import * as install from './commands/install';
import * as rollback from './commands/rollback';
import * as snippet from './commands/snippet';
import * as status from './commands/status';
import * as uninstall from './commands/uninstall';

function fail(err: unknown): void {
  if (err instanceof StfError) {
    process.stderr.write(`${TOOL}: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`${TOOL}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}

// A closed pipe (`| head`) ends the output, not the program with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

yargs(hideBin(process.argv))
  .scriptName(TOOL)
  .usage(`$0 <command>\n\nKeeps SSH agent forwarding working inside tmux after you reconnect.`)
  .command(install)
  .command(uninstall)
  .command(rollback)
  .command(status)
  .command(doctor)
  .command(snippet)
  .command(ansible)
  .option('verbose', { type: 'boolean', default: false, describe: 'Print more detail' })
  .demandCommand(1, 'Say which command to run.')
  .strict()
  .version(VERSION)
  .help()
  .fail((msg, err) => {
    if (err) throw err;
    process.stderr.write(`${TOOL}: ${msg}\n  next step: run '${TOOL} --help'\n`);
    process.exit(2);
  })
  .parseAsync()
  .catch(fail);
