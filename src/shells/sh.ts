import { join } from 'node:path';
import { Shell } from './shell';

export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** POSIX sh (dash, BusyBox) as a login shell: ~/.profile. Its syntax is also bash's and zsh's. */
export const sh: Shell = {
  name: 'sh',
  templates: { sh: 'profile.sh.hbs' },
  detected: false,
  files: (he) => [{ path: join(he.home, '.profile'), template: 'sh' }],
  formerFiles: () => [],
  quote: shQuote,
  quoteHelper: 'sq',
  exportLine: (name, value) => `export ${name}=${shQuote(value)}`,
  paneTest: (vars) => `[ -n "${vars.map((v) => `\${${v}-}`).join('')}" ]`,
  findings: () => [],
};
