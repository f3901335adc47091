import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { StfError } from '../errors';
import { HostReport, planHost, probe } from '../fleet';
import { SystemReport, planSystemHost, probeSystem } from '../fleet-system';
import { PARTS } from '../targets';
import { resolveParts } from './common';

const STEPS = ['probe', 'plan'] as const;

interface AnsibleArgs {
  step?: (typeof STEPS)[number];
  out?: string;
  shell?: string;
  only?: string;
  system?: boolean;
}

export const command = 'ansible <step>';
export const describe = "The controller's side of docs/ansible/ssh-tmux-fix.yml: hosts need no Node";

export function builder(y: Argv) {
  return y
    .positional('step', {
      choices: STEPS,
      describe: "probe: the paths to stat for each user; plan: each directory and file's new bytes",
    })
    .option('out', { type: 'string', describe: 'plan: the controller directory to write the new files into' })
    .option('shell', { type: 'string', describe: 'plan: shells to set up: bash,zsh,fish,sh or none (default: /etc/shells and the login shell, and sh)' })
    .option('only', { type: 'string', describe: `plan: install only these parts: ${PARTS.join(',')}` })
    .option('system', { type: 'boolean', default: false, describe: 'The system-wide form (docs/ansible/ssh-tmux-fix-system.yml): the site-wide files, as root' })
    .example('$0 ansible probe < passwd.json', "the playbook's getent results in, the paths to stat out")
    .example('$0 ansible plan --out DIR < report.json', 'the getent, stat and slurp results in, the changes out');
}

/** Reads the playbook's registered results: one JSON document on stdin. */
function readReport(): HostReport {
  // isatty, not process.stdin.isTTY: that would open stdin non-blocking and readFileSync could fail.
  if (isatty(0)) {
    throw new StfError('ansible: reads the JSON the playbook passes on stdin, not a terminal\n  next step: run it from docs/ansible/ssh-tmux-fix.yml', 2);
  }
  const text = fs.readFileSync(0, 'utf8');
  let report: HostReport;
  try {
    report = JSON.parse(text) as HostReport;
  } catch (err) {
    throw new StfError(`ansible: stdin is not the JSON the playbook passes (${(err as Error).message})\n  next step: run it from docs/ansible/ssh-tmux-fix.yml`, 2);
  }
  if (!Array.isArray(report?.passwd)) {
    throw new StfError('ansible: stdin holds no passwd results (the getent task)\n  next step: run it from docs/ansible/ssh-tmux-fix.yml', 2);
  }
  return report;
}

/** The system-wide form: probe needs no input; plan reads the find, stat and slurp results. */
async function systemHandler(args: ArgumentsCamelCase<AnsibleArgs>): Promise<void> {
  if (args.step === 'probe') {
    process.stdout.write(`${JSON.stringify(probeSystem())}\n`);
    return;
  }
  if (isatty(0)) throw new StfError('ansible plan --system: reads the JSON the playbook passes on stdin, not a terminal', 2);
  let report: SystemReport;
  try {
    report = JSON.parse(fs.readFileSync(0, 'utf8')) as SystemReport;
  } catch (err) {
    throw new StfError(`ansible: stdin is not the JSON the playbook passes (${(err as Error).message})\n  next step: run it from docs/ansible/ssh-tmux-fix-system.yml`, 2);
  }
  if (typeof report?.find !== 'object') throw new StfError('ansible: stdin holds no find result\n  next step: run it from docs/ansible/ssh-tmux-fix-system.yml', 2);
  if (!args.out || !fs.statSync(args.out, { throwIfNoEntry: false })?.isDirectory()) {
    throw new StfError(`ansible plan: --out must name an existing directory (got ${args.out ?? 'nothing'})`, 2);
  }
  const plan = planSystemHost(report, args.out, (detected, he) => resolveParts(he, args.shell, args.only, detected));
  process.stdout.write(`${JSON.stringify(plan)}\n`);
}

// async, like every handler here: a refusal then reaches cli.ts's error printer, not yargs.
export async function handler(args: ArgumentsCamelCase<AnsibleArgs>): Promise<void> {
  if (args.system) return systemHandler(args);
  const report = readReport();
  if (args.step === 'probe') {
    process.stdout.write(`${JSON.stringify(probe(report))}\n`);
    return;
  }
  if (!args.out || !fs.statSync(args.out, { throwIfNoEntry: false })?.isDirectory()) {
    throw new StfError(`ansible plan: --out must name an existing directory (got ${args.out ?? 'nothing'})`, 2);
  }
  const plan = planHost(report, args.out, (detected, he) => resolveParts(he, args.shell, args.only, detected));
  process.stdout.write(`${JSON.stringify(plan)}\n`);
}
