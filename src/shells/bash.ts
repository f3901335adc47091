import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { linkDirOf } from '../context';
import { bashFramework } from '../frameworks';
import { sh, shQuote } from './sh';
import { Shell } from './shell';

/** bash reads the first of these that exists as a login shell. */
export function bashLoginFile(home: string): string {
  for (const name of ['.bash_profile', '.bash_login']) {
    if (existsSync(join(home, name))) return join(home, name);
  }
  return join(home, '.profile');
}

export const bash: Shell = {
  name: 'bash',
  templates: { bash: 'bash.sh.hbs', 'bash-rc': 'bash-rc.sh.hbs' },
  detected: true,
  // One bash file, sourced from .bashrc and from the login file bash picks. When that is
  // ~/.profile, its POSIX block (sh's) sources it under bash.
  files(he) {
    const login = bashLoginFile(he.home);
    // bash-it: the .bashrc part is a file of its own in $BASH_IT_CUSTOM.
    const framework = bashFramework(he);
    return [
      { path: join(linkDirOf(he.home), 'init.bash'), template: 'bash', owned: true },
      framework?.path
        ? { path: framework.path, template: 'bash-rc', owned: framework.owned, why: framework.why }
        : { path: join(he.home, '.bashrc'), template: 'bash-rc' },
      { path: login, template: login.endsWith('.profile') ? 'sh' : 'bash-rc' },
    ];
  },
  // Login files bash may have read when an earlier install ran, besides the one it reads now.
  formerFiles: (he) => [join(he.home, '.bash_profile'), join(he.home, '.bash_login'), join(he.home, '.bashrc')],
  quote: shQuote,
  quoteHelper: sh.quoteHelper,
  exportLine: sh.exportLine,
  paneTest: (vars) => `[[ -n ${vars.map((v) => `\${${v}-}`).join('')} ]]`,
  findings: () => [],
};
