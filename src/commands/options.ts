import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { StfError } from '../errors';
import { systemPaths } from '../system';

/*
 * What every command shares, apart from common.ts: `snippet`, `status` and `doctor` need only
 * these, and common.ts loads the applier, the backups and the diff, which they never use.
 */

export interface GlobalArgs {
  home?: string;
  system?: boolean;
  'dry-run'?: boolean;
  yes?: boolean;
  verbose?: boolean;
}

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

export function withSystem<T>(y: Argv<T>) {
  return y.option('system', {
    type: 'boolean',
    default: false,
    describe: `Work on the system-wide install for every user (as root): /etc files and ${systemPaths({}).libDir}`,
  });
}

// no-color.org: a NO_COLOR that is set and not empty turns colour off.
const useColor = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
export const paint = (code: string, text: string): string => (useColor() ? `\x1b[${code}m${text}\x1b[0m` : text);
