import type { ArgumentsCamelCase, Argv } from 'yargs';
import { buildContext, detectAtomicLn } from '../context';
import { render, TEMPLATES } from '../render';
import { writeOut } from '../output';
import { checkedHome, withHome } from './options';

export const command = 'snippet <name>';
export const describe = 'Print one rendered snippet, for dotfile managers (chezmoi, stow, yadm, home-manager)';

/** bash-rc is only the line that sources the bash part: not a snippet of its own. */
export const SNIPPET_NAMES: readonly string[] = Object.keys(TEMPLATES).filter((name) => name !== 'bash-rc');

export function builder(y: Argv) {
  return withHome(y)
    .positional('name', { choices: SNIPPET_NAMES, describe: 'Which snippet' })
    .example('$0 snippet bash >> ~/.bashrc', 'add the bash part by hand')
    .example('$0 snippet helper > ~/.ssh/ssh-tmux-fix/refresh.sh', 'the runtime helper every snippet calls');
}

export function handler(args: ArgumentsCamelCase<{ home?: string; name?: string }> | { home?: string; name: string }): void {
  const home = checkedHome(args.home);
  // Only the helper's text depends on how ln replaces a link: the others skip running `ln --version`.
  const atomicLn = args.name === 'helper' ? detectAtomicLn() : false;
  writeOut(render(args.name as string, buildContext(home, atomicLn)));
}
