import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { StfError } from '../errors';

/*
 * The --home option and its checks, apart from common.ts: `snippet` needs only these, and
 * loading the planner with them would double its start-up time.
 */

export function withHome<T>(y: Argv<T>) {
  return y.option('home', {
    type: 'string',
    describe: 'The home directory to work on (default: $HOME)',
  });
}

/** The absolute home to work on (--home, else $HOME): an existing directory, or a clear error. */
export function checkedHome(arg: string | undefined): string {
  const raw = arg ?? process.env.HOME ?? homedir();
  if (!raw) throw new StfError('no home directory: $HOME is not set\n  next step: set HOME or pass --home DIR', 2);
  const home = resolve(raw);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(home);
  } catch {
    throw new StfError(`the home directory ${home} does not exist; nothing was changed\n  next step: create it, or pass the right one with --home DIR`);
  }
  if (!stat.isDirectory()) throw new StfError(`${home} is not a directory; nothing was changed\n  next step: pass a home directory with --home DIR`);
  return home;
}
