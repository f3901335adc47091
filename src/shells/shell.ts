import type { Placement } from '../blocks';
import type { Finding } from '../doctor';
import type { HomeEnv } from '../targets';

/** One file a part writes its block into. */
export interface PartFile {
  path: string;
  /** A template name from the registry entry's `templates`. */
  template: string;
  /** Whole file owned by the tool (a drop-in): created and deleted by it. */
  owned?: boolean;
  /** Where a new block goes (default: appended). */
  placement?: Placement;
  /** Why the part goes to this file, when a framework decided it (said in the plan). */
  why?: string;
}

/**
 * Everything the tool knows about one shell. Adding a shell is one file like ./zsh.ts, its
 * template, an entry in ./index.ts and its tests.
 */
export interface Shell {
  /** The name of --shell, --only and `snippet`, and of the executable on PATH. */
  readonly name: string;
  /** Template names (for `snippet` and the planner) and their files in templates/. */
  readonly templates: Readonly<Record<string, string>>;
  /** Whether install sets it up when it is on PATH or the login shell (sh is always set up). */
  readonly detected: boolean;
  /** The files this shell really reads, each with the block it gets, in the order shown. */
  files(he: HomeEnv): PartFile[];
  /** Files an install of any version may have written for this shell, besides files(). */
  formerFiles(he: HomeEnv): string[];
  /** A word in this shell's syntax that holds s literally. */
  quote(s: string): string;
  /** The name its templates call quote() by: {{sq link}}, {{fishq link}}. */
  readonly quoteHelper: string;
  /** The line that sets an exported variable in an open shell, to paste. */
  exportLine(name: string, value: string): string;
  /** A condition, in this shell's syntax, true in a pane of any of the multiplexers whose pane variables are given. */
  paneTest(paneVars: readonly string[]): string;
  /** Checks of this shell's own, for doctor (the shell is the login shell). */
  findings(he: HomeEnv): Finding[];
}
