import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { StfError } from '../errors';
import { HostReport, planHost, probe } from '../fleet';
import { PARTS } from '../targets';
import { resolveParts } from './common';

const STEPS = ['probe', 'plan'] as const;

interface AnsibleArgs {
  step?: (typeof STEPS)[number];
  out?: string;
  shell?: string;
  only?: string;
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

// async, like every handler here: a refusal then reaches cli.ts's error printer, not yargs.
export async function handler(args: ArgumentsCamelCase<AnsibleArgs>): Promise<void> {
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
