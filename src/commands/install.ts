import { spawnSync } from '../spawn';
import * as fs from 'node:fs';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { applyPlan } from '../apply';
import { buildContext } from '../context';
import { installedDisplay, installedDisplayIn } from '../doctor';
import { StfError } from '../errors';
import { SYSTEM_PARTS, buildSystemContext, systemTargets } from '../system';
import { join } from 'node:path';
import { planInstall } from '../plan';
import { MULTIPLEXERS } from '../multiplexers';
import { PARTS } from '../targets';
import { SHELLS } from '../shells';
import { confirm, recoverFirst, describePlan, isOwnHome, printDiff, printWarnings, resolveHome, resolveParts, resolveSystem, tilde, withChangeOptions, withForce } from './common';
import { GlobalArgs, paint } from './options';

interface InstallArgs extends GlobalArgs {
  shell?: string;
  only?: string;
  force?: boolean;
  display?: boolean;
}

export const command = 'install';
export const describe = 'Install the fix into ~/.ssh/rc, the shell startup files and the tmux config';

export function builder(y: Argv) {
  return withForce(withChangeOptions(y))
    .option('shell', { type: 'string', describe: 'Shells to set up: bash,zsh,fish,sh or none (default: those on this machine, and sh)' })
    .option('only', { type: 'string', describe: `Install only these parts: ${PARTS.join(',')}` })
    .option('display', {
      type: 'boolean',
      describe: 'DISPLAY follows ssh -X/-Y logins into tmux panes; --no-display turns that off (default: as installed, else on)',
    })
    .example('$0 install', 'show the plan, ask, then install')
    .example('$0 install --dry-run', 'print the diff of every change; touch nothing')
    .example('$0 install --yes --shell bash,zsh', 'install without asking, for bash and zsh only')
    .example('$0 install --no-display', 'leave DISPLAY in tmux panes alone');
}

export async function handler(args: ArgumentsCamelCase<InstallArgs>): Promise<void> {
  if (args.system) return installSystem(args);
  const { he, state } = resolveHome(args.home);
  recoverFirst(state, args.dryRun);
  // An upgrade keeps the choice made at the first install unless told otherwise.
  const ctx = buildContext(he.home, undefined, args.display ?? installedDisplay(he.home) ?? true);
  const plan = planInstall(he, ctx, resolveParts(he, args.shell, args.only), Boolean(args.force));
  printWarnings(plan);
  if (args.dryRun) {
    printDiff(plan);
    return;
  }
  if (plan.changes.length === 0) {
    process.stdout.write(`ssh-tmux-fix ${ctx.version} is already installed in ${he.home}; nothing to change.\n`);
  } else {
    process.stdout.write(`ssh-tmux-fix ${ctx.version} will make these changes:\n${describePlan(plan)}\n`);
    await confirm(args, 'Apply them?');
    const { backupSet } = applyPlan(plan, state);
    process.stdout.write(`${paint('32', 'Installed.')} Backups of the files before: ${tilde(state.backupsDir, he.home)}/${backupSet?.id}\n`);
  }
  if (isOwnHome(he.home)) {
    // Point the link at this shell's agent now, and give running multiplexer servers the setting.
    spawnSync('/bin/sh', [ctx.helper, 'login'], { stdio: 'ignore' });
    const done = MULTIPLEXERS.flatMap((mux) => mux.applyLive(ctx));
    if (args.verbose) {
      let target = '(none yet: the next login with ssh -A creates it)';
      try {
        target = fs.readlinkSync(ctx.link);
      } catch {
        // no live agent socket in this shell
      }
      process.stdout.write(`Agent link: ${tilde(ctx.link, he.home)} -> ${target}\n`);
      for (const line of done) process.stdout.write(`${line}\n`);
    }
  }
  process.stdout.write(`It takes effect at your next SSH login. In shells that are already open (say, inside a running tmux),\nrun this line once. ${pasteLines(ctx.link)}`);
}

/** install --system: the site-wide files, for every user at their next login; nothing in any home. */
async function installSystem(args: ArgumentsCamelCase<InstallArgs>): Promise<void> {
  const { he, state, paths } = resolveSystem(args);
  recoverFirst(state, args.dryRun);
  const helper = join(paths.libDir, 'refresh.sh');
  const ctx = buildSystemContext(paths, undefined, args.display ?? installedDisplayIn(helper) ?? true);
  const parts = resolveParts(he, args.shell, args.only).filter((p) => SYSTEM_PARTS.includes(p));
  if (args.only !== undefined && parts.length === 0) throw new StfError(`--only: none of these parts has a system-wide form; choose from ${SYSTEM_PARTS.join(', ')}`, 2);
  const plan = planInstall(he, ctx, parts, Boolean(args.force), systemTargets(paths, parts));
  printWarnings(plan);
  if (args.dryRun) {
    printDiff(plan);
    return;
  }
  if (plan.changes.length === 0) {
    process.stdout.write(`ssh-tmux-fix ${ctx.version} is already installed system-wide; nothing to change.\n`);
    return;
  }
  process.stdout.write(`ssh-tmux-fix ${ctx.version} will make these changes for every user of this machine:\n${describePlan(plan)}\n`);
  await confirm(args, 'Apply them?');
  const { backupSet } = applyPlan(plan, state);
  process.stdout.write(
    `${paint('32', 'Installed system-wide.')} Backups of the files before: ${state.backupsDir}/${backupSet?.id}\n` +
      'Each user gets it at their next login; their agent link is made then, in their own home.\n' +
      `A tmux server that is already running reads it with: tmux source-file ${paths.tmuxConf}\n`,
  );
}

/** The line to paste into open shells, once for the shells that share it. No trailing comments: zsh without interactivecomments rejects them. */
function pasteLines(link: string): string {
  const groups = new Map<string, string[]>();
  for (const shell of SHELLS) {
    const line = shell.exportLine('SSH_AUTH_SOCK', link);
    groups.set(line, [...(groups.get(line) ?? []), shell.name]);
  }
  const names = (shells: string[]): string => shells.join(', ').replace(/, ([^,]*)$/, ' or $1');
  return [...groups].map(([line, shells]) => `In ${names(shells)}:\n  ${line}\n`).join('');
}
