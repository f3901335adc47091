import type { RenderContext } from '../context';
import type { Finding } from '../doctor';
import type { PartFile } from '../shells/shell';
import type { HomeEnv } from '../targets';

/**
 * Everything the tool knows about one terminal multiplexer. A pane outlives the login that
 * started it, so a shell in a pane uses the stable agent link. Adding one is a file like
 * ./tmux.ts, its template (if its config needs a block), an entry in ./index.ts and its tests.
 */
export interface Multiplexer {
  /** The name of --only and `snippet`, and of the executable on PATH. */
  readonly name: string;
  /** Set in the environment of each of its panes: how a shell knows it runs inside one. */
  readonly paneVar: string;
  /** The multiplexers it runs as (byobu: tmux or screen); their pane variable tells the shells. */
  readonly backends?: readonly string[];
  /** Whether attaching copies the new login's SSH_AUTH_SOCK into the session (tmux's update-environment). */
  readonly copiesEnvironmentAtAttach: boolean;
  /** The quoting its config syntax needs, by the name its templates call it ({{tmuxq link}}). */
  readonly quote?: { helper: string; quote(s: string): string };
  /** Template names and their files in templates/. */
  readonly templates: Readonly<Record<string, string>>;
  /** Whether a default install sets it up in this home (tmux: always, the tool's first home). */
  inUse(he: HomeEnv): boolean;
  /** The config files it really reads that get a block. */
  files(he: HomeEnv): PartFile[];
  /** Config files an install of any version may have written, besides files(). */
  formerFiles(he: HomeEnv): string[];
  /** Fields its templates use beyond the common context. */
  templateContext(ctx: RenderContext): Record<string, unknown>;
  /** Gives the user's running servers what its config gives new ones; one line for each server touched. */
  applyLive(ctx: RenderContext): string[];
  /** Takes back what applyLive set, and only that; one line for each server touched. */
  unapplyLive(ctx: RenderContext): string[];
  /** doctor's checks, run in one of its panes; fix lines quoted with the login shell's quote. */
  findings(link: string, env: NodeJS.ProcessEnv, quote: (s: string) => string): Finding[];
}
