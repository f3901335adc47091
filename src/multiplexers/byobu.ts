import * as fs from 'node:fs';
import { join } from 'node:path';
import { Finding } from '../doctor';
import { HomeEnv } from '../targets';
import { Multiplexer } from './multiplexer';
import { tmuxOwnFile } from './tmux';

/**
 * byobu's configuration directory, as /usr/lib/byobu/include/dirs picks it: the first of
 * $XDG_CONFIG_HOME/byobu, ~/.config/byobu, ~/.local/share/byobu that exists, else ~/.byobu.
 */
export function byobuConfigDir(he: HomeEnv): string {
  const candidates = [join(he.xdgConfigHome, 'byobu'), join(he.home, '.config', 'byobu'), join(he.home, '.local', 'share', 'byobu')];
  return candidates.find((dir) => fs.existsSync(dir)) ?? join(he.home, '.byobu');
}

/** byobu's own agent link: `byobu` points it at the launching login's socket, at each launch. */
function byobuLinkFinding(env: NodeJS.ProcessEnv): Finding[] {
  const dir = env.BYOBU_CONFIG_DIR;
  if (!dir) return [];
  const own = join(dir, '.ssh-agent');
  let target: string;
  try {
    target = fs.readlinkSync(own);
  } catch {
    return [];
  }
  return [{ id: 'byobu-link', level: 'ok', message: `byobu's own link ${own} points to ${target} (re-pointed only when byobu is launched); panes use the agent link instead` }];
}

/**
 * byobu wraps tmux or screen (byobu-select-backend). Its tmux profile reads
 * $BYOBU_CONFIG_DIR/.tmux.conf and never ~/.tmux.conf, so the tmux block goes there too; its
 * screen backend needs nothing beyond screen's (the shells see STY). Its panes carry
 * BYOBU_BACKEND besides TMUX or STY. Set up when byobu has a configuration directory.
 */
export const byobuMultiplexer: Multiplexer = {
  name: 'byobu',
  paneVar: 'BYOBU_BACKEND',
  backends: ['tmux', 'screen'],
  copiesEnvironmentAtAttach: true,
  templates: {},
  inUse: (he) => fs.existsSync(byobuConfigDir(he)),
  // The same line as tmux's, sourcing the same file of the install.
  files: (he) => [
    { path: tmuxOwnFile(he.home), template: 'tmux', owned: true },
    { path: join(byobuConfigDir(he), '.tmux.conf'), template: 'tmux-rc' },
  ],
  formerFiles: (he) => [join(he.home, '.byobu', '.tmux.conf'), join(he.home, '.config', 'byobu', '.tmux.conf')],
  templateContext: () => ({}),
  // byobu's tmux servers are tmux servers: tmux's live apply reaches them.
  applyLive: () => [],
  unapplyLive: () => [],
  findings: (_link, env) => byobuLinkFinding(env),
};
