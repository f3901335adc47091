import type { ArgumentsCamelCase, Argv } from 'yargs';
import { VERSION } from '../context';
import { diagnose, Finding, systemFindings } from '../doctor';
import { StfError } from '../errors';
import { systemPaths } from '../system';
import { writeOut } from '../output';
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

export function handler(args: ArgumentsCamelCase<GlobalArgs & { json?: boolean }>): Promise<void> {
  return report(args, false);
}

/** Prints the findings; the short form leaves out the ok lines but install and link. */
export async function report(args: GlobalArgs & { json?: boolean }, short: boolean): Promise<void> {
  const findings = args.system ? systemFindings(resolveSystemPaths(args)) : await diagnose(homeEnv(checkedHome(args.home)), process.env, short);
  const ok = !findings.some((f) => f.level === 'fail');
  // Set before the output: a reader that stops early (`| head`) ends the program there.
  process.exitCode = ok ? 0 : 1;
  if (args.json) {
    writeOut(`${JSON.stringify({ version: VERSION, ok, findings }, null, 2)}\n`);
  } else {
    const shown = findings.filter((f) => !short || f.level !== 'ok' || ['installed', 'install-mode', 'link'].includes(f.id));
    writeOut(shown.map((f) => `${MARK[f.level]} ${f.message}\n${f.fix && f.level !== 'ok' ? `     fix: ${f.fix}\n` : ''}`).join(''));
  }
}
