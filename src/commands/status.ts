import type { ArgumentsCamelCase, Argv } from 'yargs';
import { GlobalArgs } from './options';
import { report, withJson } from './doctor';

export const command = 'status';
export const describe = 'What is installed, and whether the agent link works right now (short doctor)';

export function builder(y: Argv) {
  return withJson(y)
    .example('$0 status', 'installed files and the health of the agent link')
    .example('$0 status --json', 'every finding as JSON, for scripts and fleets');
}

export function handler(args: ArgumentsCamelCase<GlobalArgs & { json?: boolean }>): Promise<void> {
  return report(args, true);
}
