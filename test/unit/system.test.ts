/*
 * install --system under SSH_TMUX_FIX_ROOT (a throwaway root with a space and a quote in its
 * path): the rendered parts compute every path under the home from $HOME and pass the real
 * tools; install, uninstall and rollback give every system file back byte for byte; a user with
 * both installs gets the hooks once; doctor says which install is in effect.
 * The real /etc, a real sshd and new users: test/e2e/system.test.ts.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { hostname } from 'node:os';
import { insertBlock } from '../../src/blocks';
import { VERSION } from '../../src/context';
import { modeFinding } from '../../src/doctor';
import { render } from '../../src/render';
import { HOME_MARK, SYSTEM_PARTS, SystemPaths, buildSystemContext, systemPaths, systemTargets } from '../../src/system';
import { homeEnv } from '../../src/targets';
import { ensureBuilt, makeRoot, removeAllRoots, run, runCli, snapshot, treeDiff, TEST_PATH } from './helpers';

let root: string;
let sysRoot: string;
let paths: SystemPaths;

beforeAll(() => {
  ensureBuilt();
  ({ root } = makeRoot());
  sysRoot = path.join(root, "sys root'q");
  for (const d of ['etc/ssh', 'etc/zsh', 'etc/fish', 'etc/profile.d', 'usr/local/lib']) fs.mkdirSync(path.join(sysRoot, d), { recursive: true });
  fs.writeFileSync(path.join(sysRoot, 'etc/bash.bashrc'), '# the system bashrc\nPS1=x\n');
  fs.writeFileSync(path.join(sysRoot, 'etc/zsh/zshrc'), '# the system zshrc');
  fs.writeFileSync(path.join(sysRoot, 'etc/profile.d/other.sh'), 'true\n');
  paths = systemPaths({ SSH_TMUX_FIX_ROOT: sysRoot });
});
afterAll(removeAllRoots);

const cli = (args: string[], home: string, env: Record<string, string> = {}) =>
  runCli(args, { home, homeArg: null, env: { SSH_TMUX_FIX_ROOT: sysRoot, ...env } });

/** The real tools each rendered system part must pass. */
const CHECKS: Record<string, [string, string[]][]> = {
  helper: [['shellcheck', ['-s', 'sh']], ['dash', ['-n']], ['bash', ['-n']]],
  'ssh-rc': [['shellcheck', ['-s', 'sh']], ['dash', ['-n']]],
  sh: [['shellcheck', ['-s', 'sh']], ['dash', ['-n']], ['bash', ['-n']]],
  bash: [['shellcheck', ['-s', 'bash']], ['bash', ['-n']]],
  'bash-rc': [['shellcheck', ['-s', 'bash']], ['bash', ['-n']]],
  zsh: [['zsh', ['-n']]],
  'system-zsh-rc': [['zsh', ['-n']]],
  fish: [['fish', ['--no-execute']]],
  tmux: [],
  'system-tmux-rc': [],
};

describe('every system part', () => {
  const targets = () => systemTargets(paths, SYSTEM_PARTS);
  test('covers sshd, the shells and tmux, each file once', () => {
    const rel = targets().map((t) => path.relative(sysRoot, t.path));
    expect(rel).toEqual([
      'usr/local/lib/ssh-tmux-fix/refresh.sh',
      'etc/ssh/sshrc',
      'etc/profile.d/ssh-tmux-fix.sh',
      'usr/local/lib/ssh-tmux-fix/init.bash',
      'etc/bash.bashrc',
      'usr/local/lib/ssh-tmux-fix/init.zsh',
      'etc/zsh/zshrc',
      'etc/fish/conf.d/ssh-tmux-fix.fish',
      'usr/local/lib/ssh-tmux-fix/tmux.conf',
      'etc/tmux.conf',
    ]);
  });

  test.each(Object.keys(CHECKS))('%s: no home written in, names $HOME or a shared file, passes the tools', (name) => {
    const text = render(name, buildSystemContext(paths, true));
    expect(text).not.toContain(HOME_MARK);
    expect(text).not.toContain(root.split(sysRoot)[0] + "/ho me'q");
    expect(text).toMatch(/\$HOME|usr\/local\/lib\/ssh-tmux-fix/);
    expect(text).toContain("uninstall --system'");
    const file = path.join(root, `sys-${name}`);
    fs.writeFileSync(file, text);
    const failures = CHECKS[name].map(([cmd, args]) => ({ cmd, res: run(cmd, [...args, file]) })).filter(({ res }) => res.code !== 0);
    expect(failures.map(({ cmd, res }) => `${cmd}: ${res.stdout}${res.stderr}`)).toEqual([]);
  });
});

describe('installed under a root, used by the real shells with HOME at runtime', () => {
  let home: string;
  let sock: string;
  let server: net.Server;
  beforeAll(async () => {
    expect(cli(['install', '--system', '--yes'], root).code).toBe(0);
    // A bare home: no ~/.ssh, nothing of ours.
    home = path.join(root, 'bare home');
    fs.mkdirSync(home, { mode: 0o755 });
    sock = path.join(root, 'agent.sock');
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    cli(['uninstall', '--system', '--yes'], root);
  });
  // This host's link: ~/.ssh/ssh-tmux-fix/<hostname>/agent.sock.
  const link = () => path.join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock');
  /** A tmux pane's link (TMUX below: session 0 of server 1). */
  const sessionLink = () => path.join(home, '.ssh', 'ssh-tmux-fix', hostname(), 'tmux.1.0.sock');
  const env = (extra: Record<string, string> = {}) => ({ PATH: TEST_PATH, HOME: home, TERM: 'dumb', ...extra });

  test('/etc/ssh/sshrc makes ~/.ssh and the link directory (0700) and the link, printing nothing', () => {
    const res = run('/bin/sh', [paths.sshrc], { env: env({ SSH_AUTH_SOCK: sock, SSH_TTY: '/dev/pts/9' }), input: '' });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fs.readlinkSync(link())).toBe(sock);
    expect(fs.statSync(path.join(home, '.ssh')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.dirname(link())).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.dirname(path.dirname(link()))).mode & 0o777).toBe(0o700);
  });

  test('/etc/ssh/sshrc run by a ~/.ssh/rc the per-user install created (its helper readable) leaves the link to that file', () => {
    const other = path.join(root, 'other home');
    fs.mkdirSync(other, { mode: 0o755 });
    const helper = path.join(root, 'user-helper.sh');
    fs.writeFileSync(helper, '');
    const res = run('/bin/sh', [paths.sshrc], { env: { ...env({ SSH_AUTH_SOCK: sock }), HOME: other, __stf_rc_helper: helper }, input: '' });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fs.existsSync(path.join(other, '.ssh'))).toBe(false);
    // That helper gone (the per-user install removed): the system block does it again.
    run('/bin/sh', [paths.sshrc], { env: { ...env({ SSH_AUTH_SOCK: sock }), HOME: other, __stf_rc_helper: `${helper}.gone` }, input: '' });
    expect(fs.readlinkSync(path.join(other, '.ssh', 'ssh-tmux-fix', hostname(), 'agent.sock'))).toBe(sock);
  });

  test('in a pane, bash (the system bashrc), zsh (the system zshrc), fish (its conf.d file) and sh (profile.d) use the link of $HOME', () => {
    const pane = env({ TMUX: '/tmp/fake,1,0', SSH_AUTH_SOCK: sock });
    const bash = run('bash', ['--norc', '--noprofile', '-i', '-c', '. "$1"; printf "%s|%s" "$SSH_AUTH_SOCK" "$PROMPT_COMMAND"', 'bash', paths.bashrc], { env: pane });
    expect(bash.stdout).toBe(`${sessionLink()}|__stf_heal && :`);
    const zsh = run('zsh', ['-f', '-i', '-c', '. "$1"; printf "%s|%s" "$SSH_AUTH_SOCK" "${precmd_functions[*]}"', 'zsh', paths.zshrc], { env: pane });
    expect(zsh.stdout).toBe(`${sessionLink()}|__stf_heal`);
    const fish = run('fish', ['--no-config', '-i', '-c', 'source $argv[1]; printf "%s" "$SSH_AUTH_SOCK"', paths.fishConfD], { env: { ...pane, XDG_CONFIG_HOME: path.join(root, 'no-xdg') } });
    expect(fish.stdout).toBe(sessionLink());
    const sh = run('dash', ['-i', '-c', '. "$1"; printf "%s" "$SSH_AUTH_SOCK"', 'sh', paths.profileD], { env: pane });
    expect(sh.stdout).toBe(link());
  });

  test('a user who also ran the per-user install gets the hooks once (bash, zsh, fish)', () => {
    expect(runCli(['install', '--yes', '--shell', 'bash,zsh,fish'], { home }).code).toBe(0);
    const pane = env({ TMUX: '/tmp/fake,1,0', SSH_AUTH_SOCK: sock });
    // As the shells read them: the site-wide file first, then the user's.
    const bash = run('bash', ['--norc', '--noprofile', '-i', '-c', '. "$1"; . ~/.bashrc; printf "%s|%s|%s" "$SSH_AUTH_SOCK" "$PROMPT_COMMAND" "$(trap -p DEBUG)"', 'bash', paths.bashrc], { env: pane });
    expect(bash.stdout).toBe(`${sessionLink()}|__stf_heal && :|trap -- '__stf_preexec' DEBUG`);
    const zsh = run('zsh', ['-f', '-i', '-c', '. "$1"; . ~/.zshrc; printf "%s|%s|%s" "$SSH_AUTH_SOCK" "${precmd_functions[*]}" "${preexec_functions[*]}"', 'zsh', paths.zshrc], { env: pane });
    expect(zsh.stdout).toBe(`${sessionLink()}|__stf_heal|__stf_heal`);
    const fish = run('fish', ['--no-config', '-i', '-c', 'source $argv[1]; source $argv[2]; printf "%s|%s" "$SSH_AUTH_SOCK" (functions --handlers | string match -e __stf_heal | count)', paths.fishConfD, path.join(home, '.config/fish/conf.d/ssh-tmux-fix.fish')], {
      env: pane,
    });
    expect(fish.stdout).toBe(`${sessionLink()}|2`);
    expect(runCli(['uninstall', '--yes'], { home }).code).toBe(0);
  });

  test('tmux reads /etc/tmux.conf: the link of its own $HOME in the global environment and the hooks', () => {
    const tmuxTmp = path.join(root, 'tmux-tmp');
    fs.mkdirSync(tmuxTmp, { recursive: true, mode: 0o700 });
    const name = `stf-sys-${process.pid}`;
    const tmux = (args: string[]) => run('tmux', ['-L', name, ...args], { env: { PATH: TEST_PATH, HOME: home, TMUX_TMPDIR: tmuxTmp, TERM: 'xterm', SSH_AUTH_SOCK: sock } });
    try {
      const conf = path.join(root, 'tmux-with-block.conf');
      fs.writeFileSync(conf, `set -g base-index 1\n${fs.readFileSync(paths.tmuxConf, 'latin1')}`);
      expect(tmux(['-f', conf, 'new-session', '-d', 'sleep 5']).code).toBe(0);
      expect(tmux(['show-environment', '-g', 'SSH_AUTH_SOCK']).stdout).toBe(`SSH_AUTH_SOCK=${link()}\n`);
      expect(tmux(['show-environment', 'SSH_AUTH_SOCK']).stdout).toBe(`SSH_AUTH_SOCK=${link()}\n`);
      const hooks = tmux(['show-hooks', '-g']).stdout.split('\n').filter((l) => l.includes('[7311]'));
      expect(hooks).toHaveLength(3);
      for (const h of hooks) expect(h).toContain(`set-environment -F SSH_AUTH_SOCK "${path.join(home, '.ssh', 'ssh-tmux-fix')}/#{host}/agent.sock"`);
    } finally {
      tmux(['kill-server']);
    }
  });

  test('doctor: the system-wide install is in effect; with the per-user one too, it says both; with an own ~/.ssh/rc, what that means', () => {
    const he = homeEnv(home, { HOME: home });
    expect(modeFinding(he, paths)).toMatchObject({ id: 'install-mode', level: 'ok', message: expect.stringContaining('system-wide') });
    const status = cli(['status'], home);
    expect(status.stdout).toContain('installed system-wide');
    expect(status.stdout).toContain('is in effect for this home');
    expect(runCli(['install', '--yes', '--only', 'ssh-rc,bash'], { home }).code).toBe(0);
    expect(modeFinding(he, paths)?.message).toMatch(/^both installs are here/);
    expect(runCli(['uninstall', '--yes'], { home }).code).toBe(0);
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(home, '.ssh', 'rc'), 'echo mine >/dev/null\n');
    try {
      const f = modeFinding(he, paths);
      expect(f).toMatchObject({ level: 'warn', message: expect.stringContaining('sshd runs your own ~/.ssh/rc') });
      expect(f?.fix).toContain(path.join(paths.libDir, 'refresh.sh'));
    } finally {
      fs.rmSync(path.join(home, '.ssh', 'rc'));
    }
  });
});

describe('the CLI under SSH_TMUX_FIX_ROOT', () => {
  const excl = ['var'];
  test('install, uninstall: every system file back byte for byte; dry runs touch nothing; a second install changes nothing', () => {
    const before = snapshot(sysRoot, excl);
    const dry = cli(['install', '--system', '--dry-run'], root);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`+++ b${paths.bashrc}`);
    expect(dry.stdout).toContain('+source-file -q');
    expect(treeDiff(snapshot(sysRoot, excl), before)).toEqual([]);
    expect(cli(['install', '--system', '--yes'], root).code).toBe(0);
    expect(fs.statSync(paths.libDir).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(paths.libDir, 'refresh.sh')).mode & 0o777).toBe(0o644);
    expect(cli(['install', '--system', '--yes'], root).stdout).toContain('already installed system-wide');
    const status = cli(['status', '--system', '--json'], root);
    expect(JSON.parse(status.stdout).findings[0]).toMatchObject({ id: 'installed', level: 'ok' });
    expect(cli(['uninstall', '--system', '--dry-run'], root).stdout).toContain(`-source-file -q`);
    expect(cli(['uninstall', '--system', '--yes'], root).code).toBe(0);
    expect(treeDiff(snapshot(sysRoot, excl), before)).toEqual([]);
    expect(cli(['status', '--system'], root).code).toBe(1);
  });

  test('rollback --system restores the bytes before the latest install', () => {
    const before = snapshot(sysRoot, excl);
    expect(cli(['install', '--system', '--yes', '--shell', 'bash'], root).code).toBe(0);
    fs.appendFileSync(paths.bashrc, 'alias ll=ls\n');
    const afterEdit = snapshot(sysRoot, excl);
    expect(cli(['install', '--system', '--yes'], root).code).toBe(0);
    expect(cli(['rollback', '--system', '--yes'], root).code).toBe(0);
    expect(treeDiff(snapshot(sysRoot, excl), afterEdit)).toEqual([]);
    expect(cli(['rollback', '--system', '--list'], root).stdout).toMatch(/install .*etc\/zsh\/zshrc/);
    expect(cli(['uninstall', '--system', '--yes'], root).code).toBe(0);
    fs.writeFileSync(paths.bashrc, '# the system bashrc\nPS1=x\n');
    expect(treeDiff(snapshot(sysRoot, excl), before)).toEqual([]);
  });

  test('--system with --home is a usage error; a block in an /etc file is found by the block version check', () => {
    const res = cli(['install', '--system', '--home', root, '--yes'], root);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--system and --home');
    expect(insertBlock('', 'x\n', VERSION, 'append', false)).toContain(VERSION);
  });
});
