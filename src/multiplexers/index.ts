import { Multiplexer } from './multiplexer';
import { tmuxMultiplexer } from './tmux';

/** Every multiplexer, by name, in the order parts are listed and installed. */
export const MULTIPLEXERS: readonly Multiplexer[] = [tmuxMultiplexer];
export const MULTIPLEXER_NAMES = MULTIPLEXERS.map((m) => m.name);

/** The variables that tell a shell it runs in a multiplexer's pane, for the templates. */
export const PANE_VARS = MULTIPLEXERS.map((m) => m.paneVar);

/** The multiplexer whose pane this environment is, if any. */
export function paneOf(env: NodeJS.ProcessEnv): Multiplexer | undefined {
  return MULTIPLEXERS.find((m) => env[m.paneVar]);
}

export type { Multiplexer } from './multiplexer';
