import type * as ChildProcess from 'node:child_process';

/**
 * node:child_process loads net, dgram and more: about as much start-up time as the rest of the
 * CLI. Most runs of `status` and `snippet` start no process, so it is loaded at the first spawn.
 */
export const spawnSync = ((...args: Parameters<typeof ChildProcess.spawnSync>) =>
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  (require('node:child_process') as typeof ChildProcess).spawnSync(...args)) as typeof ChildProcess.spawnSync;
