/*
 * Frameworks (src/frameworks.ts), each built from its documented structure (test/support/
 * frameworks.ts): the part goes where the framework takes user settings, never into the
 * framework's own files; the checkout stays clean; uninstall and rollback give the home back
 * byte for byte; a block an earlier version wrote into a framework's file is taken out.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyPlan } from '../../src/apply';
import { findBlocks, insertBlock, removeBlock, scriptEnd } from '../../src/blocks';
import { render } from '../../src/render';
import { planInstall, planRollback, planUninstall } from '../../src/plan';
import { Part } from '../../src/targets';
import { staticPath } from '../../src/frameworks';
import {
  OH_MY_TMUX_CONF,
  OH_MY_TMUX_LOCAL,
  checkoutStatus,
  installBashIt,
  installOhMyTmux,
  installOhMyZsh,
  installPrezto,
  makeCheckout,
} from '../support/frameworks';
import {
  CLI,
  RELEASE_1_0_0,
  api,
  buildRelease100,
  dropStateParents,
  haveRelease100,
  makeRoot,
  removeAllRoots,
  runCli,
  snapshot,
  Tree,
  treeDiff,
} from './helpers';

const STATE = '.local/state/ssh-tmux-fix';
const TOOL_FILE = 'ssh-tmux-fix';

afterAll(removeAllRoots);

function install(home: string, parts: Part[]) {
  const x = api(home);
  const plan = planInstall(x.he, x.ctx, parts, false);
  applyPlan(plan, x.state);
  return plan;
}

function uninstall(home: string) {
  const x = api(home);
  applyPlan(planUninstall(x.he, x.state, false), x.state);
}

function rollback(home: string) {
  const x = api(home);
  applyPlan(planRollback(x.he, x.state), x.state);
}

const userTree = (home: string, before: Tree): Tree => dropStateParents(snapshot(home, [STATE, '.ssh']), before, '');
const read = (file: string): string => fs.readFileSync(file, 'utf8');
const dropGit = (tree: Tree, dirs: string[]): Tree => new Map([...tree].filter(([rel]) => !dirs.some((d) => rel === d || rel.startsWith(`${d}/`))));

/** Runs a config that is also a script the way Oh my tmux! does: `cut -c3- FILE | sh -s ARGS`. */
function cutSh(file: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  // As run by its tmux server: TMUX set, and a tmux that answers (a stand-in: no server here).
  const bin = path.join(makeRoot().root, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'tmux'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const env = { PATH: `${bin}:/usr/bin:/bin`, TMUX: '/tmp/tmux-0/default,1,0' };
  const out = spawnSync('sh', ['-c', 'cut -c3- "$0" | sh -s "$@"', file, ...args], { encoding: 'utf8', cwd: path.dirname(file), env });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

describe('scriptEnd: a config that is also a `cut -c3- | sh` script keeps its script last', () => {
  const body = 'set-environment -g X "y"\n';

  test("the block goes inside the here-document, before '# EOF' and the comment lines right above it", () => {
    const after = insertBlock(OH_MY_TMUX_LOCAL, body, '1.0.0', 'append', true);
    const at = after.indexOf('# >>> ssh-tmux-fix');
    expect(after.slice(0, at)).toBe(OH_MY_TMUX_LOCAL.slice(0, OH_MY_TMUX_LOCAL.indexOf('# # /!\\ do not remove the following line')));
    expect(after.endsWith('# "$@"\n# # /!\\ do not remove the previous line\n')).toBe(true);
    const [block] = findBlocks(after, 'x');
    expect(removeBlock(after, block)).toEqual({ content: OH_MY_TMUX_LOCAL, deleteFile: false });
  });

  test("the framework's .tmux.conf: before '# EOF' (a blank line above it)", () => {
    expect(OH_MY_TMUX_CONF.slice(scriptEnd(OH_MY_TMUX_CONF) as number).startsWith('# EOF\n')).toBe(true);
  });

  test('any other file, or one whose here-document never ends: appended as before', () => {
    expect(scriptEnd('set -g mouse on\n# EOF\n')).toBeNull();
    expect(scriptEnd("# : << 'EOF'\nset -g mouse on\n")).toBeNull();
    expect(insertBlock('a\n', body, '1.0.0', 'append', true).startsWith('a\n# >>>')).toBe(true);
  });

  test('the script still runs: the rendered tmux part inside it is here-document text to sh', () => {
    const { root, home } = makeRoot();
    const file = path.join(root, 'local');
    const tmuxPart = render('tmux', api(home).ctx);
    fs.writeFileSync(file, insertBlock(OH_MY_TMUX_LOCAL, tmuxPart, '1.0.0', 'append', true));
    expect(cutSh(file, ['printf', 'probe'])).toEqual({ code: 0, stdout: 'probe', stderr: '' });
    expect(cutSh(file, ['online'])).toEqual({ code: 0, stdout: 'online', stderr: '' });
    // The mutant: appended after the script, sh runs the block's lines and fails.
    fs.writeFileSync(file, `${OH_MY_TMUX_LOCAL}# >>> ssh-tmux-fix 1.0.0 sum=000000000000 >>>\n${tmuxPart}# <<< ssh-tmux-fix <<<\n`);
    expect(cutSh(file, ['printf', 'probe']).code).not.toBe(0);
  });
});

describe('Oh my tmux!', () => {
  test('the tmux part goes to ~/.tmux.conf.local; the checkout stays clean; the plan says why; uninstall and rollback are exact', () => {
    const { home } = makeRoot();
    const checkout = installOhMyTmux(home);
    const before = snapshot(home);
    const plan = install(home, ['ssh-rc', 'tmux']);
    const change = plan.changes.find((c) => c.path === path.join(home, '.tmux.conf.local'));
    expect(change?.summary).toMatch(/^add block; Oh my tmux!: ~\/\.tmux\.conf \(~\/\.tmux\/\.tmux\.conf\) is its own file and a script; user settings go here$/);
    expect(plan.changes.map((c) => c.realPath)).not.toContain(path.join(checkout, '.tmux.conf'));
    expect(checkoutStatus(checkout)).toBe('');
    expect(read(path.join(checkout, '.tmux.conf'))).toBe(OH_MY_TMUX_CONF);
    const local = read(path.join(home, '.tmux.conf.local'));
    expect(findBlocks(local, 'local')).toHaveLength(1);
    // One line sourcing the install's own file, which holds the hooks.
    expect(local).toContain(`source-file -q "${path.join(home, '.ssh', 'ssh-tmux-fix', 'tmux.conf')}"`);
    expect(read(path.join(home, '.ssh', 'ssh-tmux-fix', 'tmux.conf'))).toContain('set-hook -g client-attached[7311]');
    expect(cutSh(path.join(home, '.tmux.conf.local'), ['printf', 'probe'])).toEqual({ code: 0, stdout: 'probe', stderr: '' });
    expect(cutSh(path.join(home, '.tmux.conf'), ['_apply_configuration'])).toEqual({ code: 0, stdout: '', stderr: '' });
    // Installing again changes nothing.
    const x = api(home);
    expect(planInstall(x.he, x.ctx, ['ssh-rc', 'tmux'], false).changes).toEqual([]);

    uninstall(home);
    expect(treeDiff(userTree(home, before), dropStateParents(before, before, ''))).toEqual([]);
    install(home, ['ssh-rc', 'tmux']);
    rollback(home);
    expect(treeDiff(userTree(home, before), dropStateParents(before, before, ''))).toEqual([]);
    expect(checkoutStatus(checkout)).toBe('');
  });

  test("an earlier version's block in the framework's .tmux.conf (through the symlink) is taken out at install: one copy, the checkout clean again", () => {
    const { home } = makeRoot();
    const checkout = installOhMyTmux(home);
    const x = api(home);
    const old = render('tmux', x.ctx);
    fs.writeFileSync(path.join(checkout, '.tmux.conf'), `${OH_MY_TMUX_CONF}# >>> ssh-tmux-fix 1.0.0 sum=${require('../../src/blocks').checksum(old)} >>>\n${old}# <<< ssh-tmux-fix <<<\n`);
    expect(checkoutStatus(checkout)).not.toBe('');
    expect(cutSh(path.join(home, '.tmux.conf'), ['_apply_configuration']).code).toBe(2);
    const plan = install(home, ['ssh-rc', 'tmux']);
    expect(plan.changes.find((c) => c.path === path.join(home, '.tmux.conf'))?.summary).toMatch(/^remove block; Oh my tmux!/);
    expect(checkoutStatus(checkout)).toBe('');
    expect(cutSh(path.join(home, '.tmux.conf'), ['_apply_configuration']).code).toBe(0);
    expect(findBlocks(read(path.join(home, '.tmux.conf.local')), 'l')).toHaveLength(1);
  });

  test("a ~/.tmux.conf.local linked to the checkout's example gets nothing, and a warning says to copy it", () => {
    const { home } = makeRoot();
    const checkout = installOhMyTmux(home);
    fs.rmSync(path.join(home, '.tmux.conf.local'));
    fs.symlinkSync('.tmux/.tmux.conf.local', path.join(home, '.tmux.conf.local'));
    const plan = install(home, ['ssh-rc', 'tmux']);
    expect(plan.warnings.join('\n')).toMatch(/tmux: ~\/\.tmux\.conf\.local is a link to Oh my tmux!'s example in its checkout ~\/\.tmux, .* 'cp --remove-destination /);
    expect(checkoutStatus(checkout)).toBe('');
  });

  test('not by name: a ~/.tmux checkout whose .tmux.conf is an ordinary tmux config gets the block in ~/.tmux.conf', () => {
    const { home } = makeRoot();
    makeCheckout(path.join(home, '.tmux'), { '.tmux.conf': 'set -g mouse on\n' });
    fs.symlinkSync('.tmux/.tmux.conf', path.join(home, '.tmux.conf'));
    fs.writeFileSync(path.join(home, '.tmux.conf.local'), '# mine\n');
    install(home, ['ssh-rc', 'tmux']);
    expect(findBlocks(read(path.join(home, '.tmux.conf')), 'c')).toHaveLength(1);
    expect(read(path.join(home, '.tmux.conf.local'))).toBe('# mine\n');
  });
});

describe('oh-my-zsh', () => {
  test('the zsh part is a file of its own in $ZSH_CUSTOM; ~/.zshrc is left alone; the checkout stays clean; uninstall is exact', () => {
    const { home } = makeRoot();
    const checkout = installOhMyZsh(home);
    const before = snapshot(home);
    const plan = install(home, ['ssh-rc', 'zsh']);
    const own = path.join(checkout, 'custom', `${TOOL_FILE}.zsh`);
    expect(plan.changes.find((c) => c.path === own)?.summary).toMatch(/^new file; oh-my-zsh sources \$ZSH_CUSTOM\/\*\.zsh \(~\/\.oh-my-zsh\/custom\)/);
    expect(read(path.join(home, '.zshrc'))).toBe(read(path.join(checkout, 'templates/zshrc.zsh-template')));
    expect(findBlocks(read(own), own)).toMatchObject([{ created: true }]);
    expect(checkoutStatus(checkout)).toBe('');
    uninstall(home);
    expect(treeDiff(userTree(home, before), dropStateParents(before, before, ''))).toEqual([]);
  });

  test('ZSH_CUSTOM set in ~/.zshrc is where the file goes; an earlier block in ~/.zshrc is taken out', () => {
    const { home } = makeRoot();
    installOhMyZsh(home);
    fs.mkdirSync(path.join(home, 'dots', 'zsh-custom'), { recursive: true });
    const zshrc = path.join(home, '.zshrc');
    const template = read(zshrc).replace('# ZSH_CUSTOM=/path/to/new-custom-folder', 'ZSH_CUSTOM="$HOME/dots/zsh-custom"');
    fs.writeFileSync(zshrc, template);
    const x = api(home);
    fs.writeFileSync(zshrc, insertBlock(template, render('zsh', x.ctx), '1.0.0', 'append', true));
    install(home, ['ssh-rc', 'zsh']);
    expect(fs.existsSync(path.join(home, 'dots', 'zsh-custom', `${TOOL_FILE}.zsh`))).toBe(true);
    expect(read(zshrc)).toBe(template);
  });

  test('not by name: a ~/.zshrc that sources $ZSH/oh-my-zsh.sh where there is none keeps the block in ~/.zshrc', () => {
    const { home } = makeRoot();
    fs.writeFileSync(path.join(home, '.zshrc'), 'export ZSH="$HOME/.oh-my-zsh"\nsource $ZSH/oh-my-zsh.sh\n');
    fs.mkdirSync(path.join(home, '.oh-my-zsh', 'custom'), { recursive: true });
    install(home, ['ssh-rc', 'zsh']);
    expect(findBlocks(read(path.join(home, '.zshrc')), 'z')).toHaveLength(1);
  });
});

describe('prezto', () => {
  test("~/.zshrc is its checkout's runcoms/zshrc: nothing is written there, a warning says why and what to do; an earlier block there is taken out", () => {
    const { home } = makeRoot();
    const checkout = installPrezto(home);
    const runcom = path.join(checkout, 'runcoms', 'zshrc');
    const pristine = read(runcom);
    fs.writeFileSync(runcom, insertBlock(pristine, render('zsh', api(home).ctx), '1.0.0', 'append', true));
    const plan = install(home, ['ssh-rc', 'zsh']);
    expect(plan.warnings.join('\n')).toMatch(/zsh: ~\/\.zshrc is prezto's ~\/\.zprezto\/runcoms\/zshrc, a file of its git checkout.*ssh-tmux-fix snippet zsh/);
    expect(read(runcom)).toBe(pristine);
    expect(checkoutStatus(checkout)).toBe('');
  });
});

describe('bash-it', () => {
  test('the ~/.bashrc part is a file of its own in $BASH_IT_CUSTOM; ~/.bashrc is left alone; the checkout stays clean', () => {
    const { home } = makeRoot();
    const checkout = installBashIt(home);
    const bashrc = read(path.join(home, '.bashrc'));
    const before = snapshot(home);
    install(home, ['ssh-rc', 'bash']);
    const own = path.join(checkout, 'custom', `${TOOL_FILE}.bash`);
    expect(read(own)).toContain('init.bash');
    expect(read(path.join(home, '.bashrc'))).toBe(bashrc);
    expect(checkoutStatus(checkout)).toBe('');
    // bash really sources it: interactive bash with bash-it's .bashrc reaches the part.
    const out = spawnSync('bash', ['-ic', 'echo "${__stf_hooked-unset}"'], { encoding: 'utf8', env: { HOME: home, PATH: '/usr/bin:/bin', TMUX: '/tmp/x,1,0' } });
    expect(out.stdout.trim()).toBe('1');
    uninstall(home);
    expect(treeDiff(userTree(home, before), dropStateParents(before, before, ''))).toEqual([]);
  });
});

describe('staticPath', () => {
  test('plain paths, quotes, ~ and $HOME resolve; anything computed is unknown', () => {
    expect(staticPath('"$HOME/.oh-my-zsh"', '/h')).toBe('/h/.oh-my-zsh');
    expect(staticPath("'/opt/omz/'", '/h')).toBe('/opt/omz');
    expect(staticPath('~/.zsh # mine', '/h')).toBe('/h/.zsh');
    expect(staticPath('${ZSH}/custom', '/h', { ZSH: '/h/.omz' })).toBe('/h/.omz/custom');
    expect(staticPath('"$(brew --prefix)/omz"', '/h')).toBeNull();
    expect(staticPath('$XDG_DATA_HOME/omz', '/h')).toBeNull();
    expect(staticPath('relative/dir', '/h')).toBeNull();
  });
});

describe(`installing over 1.0.0 (commit ${RELEASE_1_0_0}), which wrote into the frameworks\' own files`, () => {
  const cli = (js: string, home: string, args: string[]) => {
    const out = runCli([...args, '--yes'], { home, cli: js });
    if (out.code !== 0) throw new Error(`${js} ${args.join(' ')}: ${out.stdout}${out.stderr}`);
    return out.stdout;
  };

  (haveRelease100 ? test : test.skip)('one copy of each part, the checkouts clean again; uninstall removes both versions\' traces', () => {
    const old = buildRelease100();
    const now = CLI;
    const { home } = makeRoot();
    const tmuxCheckout = installOhMyTmux(home);
    const zshCheckout = installOhMyZsh(home);
    const before = snapshot(home);
    cli(old, home, ['install', '--shell', 'bash,zsh,sh']);
    // What 1.0.0 did: a block in Oh my tmux!'s own .tmux.conf, through the symlink.
    expect(checkoutStatus(tmuxCheckout)).toBe(' M .tmux.conf\n');
    cli(now, home, ['install', '--shell', 'bash,zsh,sh']);
    expect(checkoutStatus(tmuxCheckout)).toBe('');
    expect(checkoutStatus(zshCheckout)).toBe('');
    const blocksIn = (rel: string) => (fs.existsSync(path.join(home, rel)) ? findBlocks(read(path.join(home, rel)), rel).length : 0);
    expect(['.tmux.conf', '.tmux.conf.local', '.zshrc', '.oh-my-zsh/custom/ssh-tmux-fix.zsh'].map(blocksIn)).toEqual([0, 1, 0, 1]);
    cli(now, home, ['uninstall']);
    // git status refreshes the stat cache in .git/index: git's own, left out.
    const gitDirs = ['.tmux/.git', '.oh-my-zsh/.git'];
    expect(treeDiff(dropStateParents(snapshot(home, [STATE, ...gitDirs]), before, ''), dropGit(before, gitDirs))).toEqual([]);
  }, 60_000);
});
