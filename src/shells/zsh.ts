import { spawnSync } from '../spawn';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { zshFramework } from '../frameworks';
import { bash } from './bash';
import { sh } from './sh';
import { Shell } from './shell';

const MARK = '__stf_zdotdir=';

/**
 * The directory zsh reads .zshrc from. Like rustup, ask zsh itself: ZDOTDIR is often set only
 * in ~/.zshenv, which zsh reads before anything else. Only for the user's own home (another
 * user's .zshenv is not ours to run); the marker skips anything .zshenv prints.
 */
export function askZdotdir(home: string, env: NodeJS.ProcessEnv): string {
  if (!zshenvMayMoveZdotdir(home, env)) return isAbsolute(env.ZDOTDIR ?? '') ? (env.ZDOTDIR as string) : home;
  const out = spawnSync('zsh', ['-c', `print -rn -- "${MARK}\${ZDOTDIR-}"`], {
    env: { ...env, HOME: home },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 3000,
  });
  const at = out.stdout?.lastIndexOf(MARK) ?? -1;
  const asked = at >= 0 ? out.stdout.slice(at + MARK.length) : (env.ZDOTDIR ?? '');
  return isAbsolute(asked) ? asked : home;
}

/**
 * `zsh -c` reads only the zshenv files: when none of them names ZDOTDIR or sources another
 * file, zsh would answer with the environment's ZDOTDIR, and no process is needed to know it.
 */
function zshenvMayMoveZdotdir(home: string, env: NodeJS.ProcessEnv): boolean {
  const zshenvs = ['/etc/zsh/zshenv', '/etc/zshenv', join(isAbsolute(env.ZDOTDIR ?? '') ? (env.ZDOTDIR as string) : home, '.zshenv')];
  return zshenvs.some((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      return false;
    }
    return /ZDOTDIR|^\s*(source|\.)\s/m.test(text);
  });
}

export const zsh: Shell = {
  name: 'zsh',
  templates: { zsh: 'zsh.zsh.hbs' },
  detected: true,
  // oh-my-zsh: a file of its own in $ZSH_CUSTOM; prezto: its .zshrc is a file of its checkout.
  files: (he) => {
    const framework = zshFramework(he);
    if (!framework) return [{ path: join(he.zdotdir, '.zshrc'), template: 'zsh' }];
    return framework.path ? [{ path: framework.path, template: 'zsh', owned: framework.owned, why: framework.why }] : [];
  },
  // An install made before ZDOTDIR was set (or found) wrote ~/.zshrc.
  formerFiles: (he) => [join(he.home, '.zshrc')],
  quote: sh.quote,
  quoteHelper: sh.quoteHelper,
  exportLine: sh.exportLine,
  paneTest: bash.paneTest,
  findings: () => [],
};
