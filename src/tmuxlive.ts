import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { RenderContext } from './context';

/** The user's running tmux servers: live sockets in tmux's socket directory. */
export function runningTmuxServers(env: NodeJS.ProcessEnv = process.env): string[] {
  const dir = join(env.TMUX_TMPDIR || '/tmp', `tmux-${process.getuid?.() ?? 0}`);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => join(dir, name))
    .filter((sock) => {
      try {
        return fs.lstatSync(sock).isSocket() && tmux(sock, ['list-sessions']).ok;
      } catch {
        return false;
      }
    });
}

function tmux(sock: string, args: string[]): { ok: boolean; stdout: string } {
  const out = spawnSync('tmux', ['-S', sock, ...args], { encoding: 'utf8', timeout: 5000 });
  return { ok: out.status === 0, stdout: out.stdout ?? '' };
}

function sessionsWith(sock: string, link: string): string[] {
  return tmux(sock, ['list-sessions', '-F', '#{session_id}']).stdout.split('\n').filter((id) => {
    if (!id) return false;
    return tmux(sock, ['show-environment', '-t', id, 'SSH_AUTH_SOCK']).stdout.trim() === `SSH_AUTH_SOCK=${link}`;
  });
}

/** Gives running servers what the tmux block gives new ones, without a restart. */
export function installIntoTmux(ctx: RenderContext, servers: string[]): void {
  for (const sock of servers) {
    tmux(sock, ['set-environment', '-g', 'SSH_AUTH_SOCK', ctx.link]);
    for (const hook of ctx.tmuxHooks) {
      tmux(sock, ['set-hook', '-g', `${hook}[${ctx.tmuxHookIndex}]`, ctx.tmuxSetSessionEnv]);
    }
    for (const id of tmux(sock, ['list-sessions', '-F', '#{session_id}']).stdout.split('\n').filter(Boolean)) {
      tmux(sock, ['set-environment', '-t', id, 'SSH_AUTH_SOCK', ctx.link]);
    }
  }
}

/** Takes back what installIntoTmux set, and only that. */
export function uninstallFromTmux(ctx: RenderContext, servers: string[]): void {
  for (const sock of servers) {
    for (const hook of ctx.tmuxHooks) tmux(sock, ['set-hook', '-gu', `${hook}[${ctx.tmuxHookIndex}]`]);
    if (tmux(sock, ['show-environment', '-g', 'SSH_AUTH_SOCK']).stdout.trim() === `SSH_AUTH_SOCK=${ctx.link}`) {
      tmux(sock, ['set-environment', '-gu', 'SSH_AUTH_SOCK']);
    }
    for (const id of sessionsWith(sock, ctx.link)) tmux(sock, ['set-environment', '-t', id, '-u', 'SSH_AUTH_SOCK']);
  }
}
