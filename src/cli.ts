#!/usr/bin/env node
import { TOOL, VERSION } from './identity';
import { StfError } from './errors';
import { writeOut } from './output';

function fail(err: unknown): void {
  if (err instanceof StfError) {
    process.stderr.write(`${TOOL}: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`${TOOL}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}

/**
 * `--version`, `status` and `snippet` run at logins, in prompts of scripts and in fleets: in
 * their plain forms they skip yargs, which costs about as much CPU as node's own start.
 * Anything else (help, an unknown option, a typo) goes to yargs, which explains it.
 */
function runPlain(argv: string[]): boolean {
  if (argv.length === 1 && argv[0] === '--version') {
    writeOut(`${VERSION}\n`);
    return true;
  }
  const [command, ...rest] = argv;
  let home: string | undefined;
  let json = false;
  const positionals: string[] = [];
  for (let i = 0; i < rest.length; i += 1) {
    const arg = rest[i];
    if (arg === '--home' && i + 1 < rest.length && !rest[i + 1].startsWith('-')) home = rest[(i += 1)];
    else if (arg.startsWith('--home=') && arg.length > 7) home = arg.slice(7);
    else if (arg === '--json' && command === 'status') json = true;
    else if (!arg.startsWith('-')) positionals.push(arg);
    else return false;
  }
  if (command === 'status' && positionals.length === 0) {
    require('./commands/status').handler({ home, json }).catch(fail);
    return true;
  }
  if (command === 'snippet' && positionals.length === 1) {
    const snippet = require('./commands/snippet');
    if (!snippet.SNIPPET_NAMES.includes(positionals[0])) return false;
    snippet.handler({ home, name: positionals[0] });
    return true;
  }
  return false;
}

function runYargs(argv: string[]): Promise<unknown> {
  // A closed pipe (`| head`) ends the output, not the program with a stack trace. Here only:
  // the plain commands above write with writeOut, which knows, and never make the stream.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  // Loaded here, not at the top: the plain commands above never need them.
  /* eslint-disable @typescript-eslint/no-var-requires */
  const yargs = require('yargs/yargs') as typeof import('yargs/yargs');
  return yargs(argv)
    .scriptName(TOOL)
    .usage(`$0 <command>\n\nKeeps SSH agent forwarding working inside tmux after you reconnect.`)
    .command(require('./commands/install'))
    .command(require('./commands/uninstall'))
    .command(require('./commands/rollback'))
    .command(require('./commands/status'))
    .command(require('./commands/doctor'))
    .command(require('./commands/snippet'))
    .command(require('./commands/ansible'))
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
    .parseAsync();
}

const argv = process.argv.slice(2);
try {
  if (!runPlain(argv)) runYargs(argv).catch(fail);
} catch (err) {
  fail(err);
}
