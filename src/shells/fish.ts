import { spawnSync } from '../spawn';
import { join } from 'node:path';
import { TOOL } from '../context';
import { Finding } from '../doctor';
import { HomeEnv } from '../targets';
import { Shell } from './shell';

export function fishQuote(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function fishDropIn(he: HomeEnv): string {
  return join(he.xdgConfigHome, 'fish', 'conf.d', `${TOOL}.fish`);
}

/** The prompt hook resolves the link with the `path` builtin of fish 3.5; older fish runs the helper at each prompt. */
export function fishVersionFinding(versionText: string): Finding[] {
  const match = /version (\d+)\.(\d+)/.exec(versionText);
  if (!match) return [];
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major > 3 || (major === 3 && minor >= 5)) return [];
  return [{ id: 'fish-version', level: 'warn', message: `fish ${match[1]}.${match[2]} has no path builtin (3.5+): the prompt hook runs the helper at every prompt in a multiplexer pane` }];
}

export const fish: Shell = {
  name: 'fish',
  templates: { fish: 'fish.fish.hbs' },
  detected: true,
  // fish reads no rc file of the others; a drop-in in conf.d is its own file, owned by the tool.
  files: (he) => [{ path: fishDropIn(he), template: 'fish', owned: true }],
  formerFiles: (he) => [join(he.home, '.config', 'fish', 'conf.d', `${TOOL}.fish`)],
  quote: fishQuote,
  quoteHelper: 'fishq',
  exportLine: (name, value) => `set -gx ${name} ${fishQuote(value)}`,
  paneTest: (vars) => vars.map((v) => `set -q ${v}`).join('; or '),
  findings: () => fishVersionFinding(spawnSync('fish', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 3000 }).stdout ?? ''),
};
