import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/* The tool's name and version, apart from context.ts: `--version` loads nothing else. */

export const TOOL = 'ssh-tmux-fix';
export const VERSION: string = JSON.parse(
  readFileSync(join(__dirname, '..', 'package.json'), 'utf8'),
).version;
