import { bash } from './bash';
import { fish } from './fish';
import { sh } from './sh';
import { Shell } from './shell';
import { zsh } from './zsh';

/** Every shell, by name, in the order parts are listed and installed. */
export const SHELLS: readonly Shell[] = [sh, bash, zsh, fish];
export const SHELL_NAMES = SHELLS.map((s) => s.name);

export function shellNamed(name: string): Shell | undefined {
  return SHELLS.find((s) => s.name === name);
}

export type { Shell, PartFile } from './shell';
