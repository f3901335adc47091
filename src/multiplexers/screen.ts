import { Multiplexer } from './multiplexer';

/**
 * GNU screen. Its windows inherit the environment the screen server started with, and
 * `screen -r` copies nothing from the new login, so every window's SSH_AUTH_SOCK is the first
 * login's. Each shell's part sees STY and uses the stable link, in old and new windows alike;
 * no ~/.screenrc block is needed for that, and running servers have nothing to take.
 */
export const screenMultiplexer: Multiplexer = {
  name: 'screen',
  paneVar: 'STY',
  copiesEnvironmentAtAttach: false,
  templates: {},
  inUse: () => false,
  files: () => [],
  formerFiles: () => [],
  templateContext: () => ({}),
  applyLive: () => [],
  unapplyLive: () => [],
  findings: () => [],
};
