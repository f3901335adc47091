import type { ArgumentsCamelCase, Argv } from 'yargs';
import { applyPlan } from '../apply';
import { buildContext } from '../context';
import { planUninstall } from '../plan';
import { SYSTEM_PARTS, systemTargets } from '../system';
import { MULTIPLEXERS } from '../multiplexers';
import { confirm, recoverFirst, describePlan, isOwnHome, printDiff, resolveHome, resolveSystem, tilde, withChangeOptions, withForce } from './common';
import { GlobalArgs } from './options';

export const command = 'uninstall';
export const describe = 'Remove every block and file the install added; your own lines stay';

export function builder(y: Argv) {
  return withForce(withChangeOptions(y))
    .example('$0 uninstall', 'show what will be removed, ask, then remove it')
    .example('$0 uninstall --dry-run', 'print the diff; touch nothing');
}

export async function handler(args: ArgumentsCamelCase<GlobalArgs & { force?: boolean }>): Promise<void> {
  const sys = args.system ? resolveSystem(args) : null;
  const { he, state } = sys ?? resolveHome(args.home);
  recoverFirst(state, args.dryRun);
  const plan = planUninstall(he, state, Boolean(args.force), sys ? systemTargets(sys.paths, SYSTEM_PARTS) : undefined);
  if (args.dryRun) {
    printDiff(plan);
    return;
  }
  if (plan.changes.length === 0) {
    process.stdout.write(`ssh-tmux-fix is not installed ${sys ? 'system-wide' : `in ${he.home}`}; nothing to remove.\n`);
  } else {
    process.stdout.write(`ssh-tmux-fix will make these changes:\n${describePlan(plan)}\n`);
    await confirm(args, 'Remove it?');
    const { backupSet } = applyPlan(plan, state);
    process.stdout.write(`Uninstalled. The files as they were just before: ${tilde(state.backupsDir, he.home)}/${backupSet?.id}\n`);
  }
  if (sys) {
    if (plan.changes.length > 0) process.stdout.write("Each user's agent link in ~/.ssh/ssh-tmux-fix/ stays until they remove it (root changes nothing in homes); their shells stop using it at their next login.\n");
  } else if (isOwnHome(he.home)) {
    const ctx = buildContext(he.home);
    const done = MULTIPLEXERS.flatMap((mux) => mux.unapplyLive(ctx));
    if (args.verbose) for (const line of done) process.stdout.write(`${line}\n`);
  }
}
