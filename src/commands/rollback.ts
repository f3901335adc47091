import type { ArgumentsCamelCase, Argv } from 'yargs';
import { applyPlan } from '../apply';
import { buildContext } from '../context';
import { planRollback } from '../plan';
import { MULTIPLEXERS } from '../multiplexers';
import { confirm, recoverFirst, describePlan, isOwnHome, printDiff, resolveHome, resolveSystem, tilde, withChangeOptions } from './common';
import { GlobalArgs } from './options';
import { KEEP_BACKUP_SETS } from '../state';

export const command = 'rollback';
export const describe = 'Restore the files an install touched to their exact bytes before it';

export function builder(y: Argv) {
  return withChangeOptions(y)
    .option('list', { type: 'boolean', default: false, describe: `List the backup sets (the newest ${KEEP_BACKUP_SETS} are kept)` })
    .option('to', { type: 'string', describe: 'Restore this backup set (an ID from --list) instead of the latest install' })
    .example('$0 rollback', 'undo the latest install, byte for byte')
    .example('$0 rollback --list', 'show the backup sets')
    .example('$0 rollback --to 20261125T101500Z-1', 'restore one set');
}

export async function handler(args: ArgumentsCamelCase<GlobalArgs & { list?: boolean; to?: string }>): Promise<void> {
  const sys = args.system ? resolveSystem(args) : null;
  const { he, state } = sys ?? resolveHome(args.home);
  if (args.list) {
    const sets = state.listSets();
    if (sets.length === 0) process.stdout.write(`No backup sets in ${state.backupsDir}.\n`);
    for (const set of sets) {
      const files = set.files.map((f) => tilde(f.path, he.home)).join(', ') || '(no files)';
      const partial = set.status === 'complete' ? '' : ' (interrupted run)';
      process.stdout.write(`${set.id}  ${set.time}  ${set.action} ${set.version}${partial}  ${files}\n`);
    }
    return;
  }
  recoverFirst(state, args.dryRun);
  const plan = planRollback(he, state, args.to, Boolean(sys));
  if (args.dryRun) {
    printDiff(plan);
    return;
  }
  process.stdout.write(`ssh-tmux-fix will restore backup set ${plan.rollbackFrom?.id}:\n${describePlan(plan) || '  (the files already hold those bytes)'}\n`);
  await confirm(args, 'Restore it?');
  const { backupSet } = applyPlan(plan, state);
  process.stdout.write(`Rolled back. The files as they were just before: ${tilde(state.backupsDir, he.home)}/${backupSet?.id ?? '(unchanged)'}\n`);
  if (!sys && isOwnHome(he.home)) {
    const ctx = buildContext(he.home);
    const done = MULTIPLEXERS.flatMap((mux) => mux.unapplyLive(ctx));
    if (args.verbose) for (const line of done) process.stdout.write(`${line}\n`);
  }
}
