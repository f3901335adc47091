import type { ArgumentsCamelCase, Argv } from 'yargs';
import { VERSION } from '../context';
import { diagnose, Finding, systemFindings } from '../doctor';
import { StfError } from '../errors';
import { systemPaths } from '../system';
import { homeEnv } from '../targets';
import { GlobalArgs, checkedHome, paint, withHome, withSystem } from './options';

/** Reading the system-wide files needs no root. */
function resolveSystemPaths(args: GlobalArgs) {
  if (args.home !== undefined) throw new StfError('--system and --home exclude each other', 2);
  return systemPaths();
}

export const command = 'doctor';
export const describe = 'Explain the agent situation of this shell, one finding a line, each with its fix';

export function withJson(y: Argv) {
  return withSystem(withHome(y)).option('json', {
    type: 'boolean',
    default: false,
    describe: 'Print the findings as JSON: {version, ok, findings: [{id, level, message, fix?}]}',
  });
}

export function builder(y: Argv) {
  return withJson(y)
    .example('$0 doctor', 'what is broken, and the one-line fix')
    .example('$0 doctor --json', 'the same as JSON, for scripts and fleets');
}

const MARK: Record<Finding['level'], string> = { ok: paint('32', 'ok  '), warn: paint('33', 'warn'), fail: paint('31', 'fail') };

export function handler(args: ArgumentsCamelCase<GlobalArgs & { json?: boolean }>): void {
  report(args, false);
}

/** Prints the findings; the short form leaves out the ok lines but install and link. */
export function report(args: GlobalArgs & { json?: boolean }, short: boolean): void {
  const findings = args.system ? systemFindings(resolveSystemPaths(args)) : diagnose(homeEnv(checkedHome(args.home)), process.env, short);
  const ok = !findings.some((f) => f.level === 'fail');
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ version: VERSION, ok, findings }, null, 2)}\n`);
  } else {
    for (const f of findings) {
      if (short && f.level === 'ok' && !['installed', 'install-mode', 'link'].includes(f.id)) continue;
      process.stdout.write(`${MARK[f.level]} ${f.message}\n`);
      if (f.fix && f.level !== 'ok') process.stdout.write(`     fix: ${f.fix}\n`);
    }
  }
  process.exitCode = ok ? 0 : 1;
}
