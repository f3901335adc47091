import { byobuMultiplexer } from './byobu';
import { Multiplexer } from './multiplexer';
import { screenMultiplexer } from './screen';
import { tmuxMultiplexer } from './tmux';

/** Every multiplexer, by name, in the order parts are listed and installed. */
export const MULTIPLEXERS: readonly Multiplexer[] = [tmuxMultiplexer, screenMultiplexer, byobuMultiplexer];
export const MULTIPLEXER_NAMES = MULTIPLEXERS.map((m) => m.name);

/** The variables that tell a shell it runs in a multiplexer's pane, for the templates. */
export const PANE_VARS = MULTIPLEXERS.filter((m) => !m.backends).map((m) => m.paneVar);

/** The multiplexers whose pane this environment is (byobu's pane is also tmux's or screen's). */
export function panesOf(env: NodeJS.ProcessEnv): Multiplexer[] {
  return MULTIPLEXERS.filter((m) => env[m.paneVar]);
}

export type { Multiplexer } from './multiplexer';
