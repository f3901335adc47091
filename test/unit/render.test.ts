/*
 * Every template, rendered for a home whose path holds a space and a single quote, is checked by
 * the real tools: shellcheck, sh -n, bash -n, zsh -n, fish --no-execute, and a private tmux
 * server that loads the tmux block. The shell snippets are also run, to see the value they set.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { hostname } from 'node:os';
import { insertBlock } from '../../src/blocks';
import { buildContext, RenderContext, VERSION } from '../../src/context';
import { tmuxLinkFormat, tmuxOwnFile } from '../../src/multiplexers/tmux';
import { render, TemplateName, TEMPLATES } from '../../src/render';
import { CLI, makeRoot, removeAllRoots, run, TEST_PATH } from './helpers';

// The system-wide install's own templates name shared files, not the home: test/unit/system.test.ts.
const NAMES = (Object.keys(TEMPLATES) as TemplateName[]).filter((n) => !n.startsWith('system-'));

let root: string;
let home: string;
let dir: string;

beforeAll(() => {
  ({ root, home } = makeRoot("o'neil home"));
  dir = path.join(root, 'rendered');
  fs.mkdirSync(dir);
});
afterAll(removeAllRoots);

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function ok(label: string, res: { code: number | null; stdout: string; stderr: string }): void {
  if (res.code !== 0) throw new Error(`${label} failed (exit ${res.code}):\n${res.stdout}${res.stderr}`);
}

test('the home used here really has a space and a single quote in its path', () => {
  expect(home).toMatch(/ /);
  expect(home).toMatch(/'/);
});

test('TEMPLATES names every template file in templates/', () => {
  const files = fs.readdirSync(path.join(__dirname, '..', '..', 'templates')).filter((f) => f.endsWith('.hbs')).sort();
  expect(Object.values(TEMPLATES).slice().sort()).toEqual(files);
});

/** The real tools each rendered template must pass; the tmux block is loaded into tmux below. */
const CHECKS: Record<TemplateName, [string, string[]][]> = {
  helper: [['shellcheck', ['-s', 'sh']], ['sh', ['-n']], ['dash', ['-n']], ['bash', ['-n']]],
  'ssh-rc': [['shellcheck', ['-s', 'sh']], ['sh', ['-n']], ['dash', ['-n']], ['bash', ['-n']]],
  sh: [['shellcheck', ['-s', 'sh']], ['sh', ['-n']], ['dash', ['-n']], ['bash', ['-n']]],
  bash: [['shellcheck', ['-s', 'bash']], ['bash', ['-n']]],
  'bash-rc': [['shellcheck', ['-s', 'bash']], ['bash', ['-n']], ['sh', ['-n']]],
  zsh: [['zsh', ['-n']]],
  fish: [['fish', ['--no-execute']]],
  tmux: [],
  'tmux-rc': [],
};

// Only the helper depends on atomicLn (GNU ln -sfn, or ln + mv); the others render once.
const CASES: [TemplateName, boolean][] = [...NAMES.map((n): [TemplateName, boolean] => [n, true]), ['helper', false]];

describe.each(CASES)('%s (atomicLn=%s)', (name, atomicLn) => {
  let ctx: RenderContext;
  beforeAll(() => {
    ctx = buildContext(home, atomicLn);
  });

  test('renders, ends with a newline and names the link, the helper or the bash part, quoted', () => {
    const text = render(name, ctx);
    expect(text.length).toBeGreaterThan(50);
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toMatch(/undefined|\[object Object\]|\{\{|\}\}/);
    // The quoted forms, written out by hand: sh '...'\''...', fish '...\'...',
    // tmux "..." and, inside a quoted hook command, \"...\".
    const sh = (p: string) => `'${p.split("'").join("'\\''")}'`;
    const fish = (p: string) => `'${p.split("'").join("\\'")}'`;
    // The link itself is computed at runtime from the directory and the hostname (tmux: a format).
    const forms = [ctx.linkDir, ctx.legacyLink, tmuxLinkFormat(ctx.linkDir), ctx.helper, ctx.bashInit, tmuxOwnFile(ctx.home)].flatMap((p) => [sh(p), fish(p), `"${p}"`, `\\"${p}\\"`]);
    // Rendered files are the same on every host (a fleet renders them on its controller).
    expect(text).not.toContain(`/${hostname()}/`);
    expect(forms.some((q) => text.includes(q))).toBe(true);
    // Never unquoted: the raw path (with its space) only ever appears inside quotes or comments.
    for (const line of text.split('\n').filter((l) => l.includes(home) && !/^\s*#/.test(l))) {
      expect(forms.some((q) => line.includes(q))).toBe(true);
    }
  });

  const checks = CHECKS[name];
  if (checks.length > 0) {
    test(`passes ${checks.map(([cmd, args]) => `${cmd} ${args.join(' ')}`).join(', ')}`, () => {
      const file = write(`${name}-${atomicLn}`, render(name, ctx));
      const failures = checks
        .map(([cmd, args]) => ({ label: `${cmd} ${args.join(' ')}`, res: run(cmd, [...args, file]) }))
        .filter(({ res }) => res.code !== 0)
        .map(({ label, res }) => `${label} (exit ${res.code}):\n${res.stdout}${res.stderr}`);
      expect(failures).toEqual([]);
    });
  }
});

describe.each<TemplateName>(['helper', 'bash', 'zsh', 'fish'])('%s with --no-display', (name) => {
  test('says so in a visible line, has no DISPLAY logic, and passes the same checks', () => {
    const text = render(name, buildContext(home, true, false));
    expect(text).toContain('# -- DISPLAY: not followed (installed with --no-display) --');
    expect(text).not.toMatch(/__stf_display|__stf_record_display|__stf_dwatch/);
    const file = write(`${name}-no-display`, text);
    const failures = CHECKS[name].map(([cmd, args]) => run(cmd, [...args, file])).filter((res) => res.code !== 0);
    expect(failures).toEqual([]);
  });
});

test('ssh-rc in a ~/.ssh/rc the install created: runs /etc/ssh/sshrc instead of xauth, and passes the same checks', () => {
  const text = render('ssh-rc', { ...buildContext(home, true), ownsRc: true });
  expect(text).toContain(`__stf_rc_helper='${buildContext(home, true).helper.split("'").join("'\\''")}' /bin/sh /etc/ssh/sshrc`);
  expect(text).toMatch(/^if \[ -e \/etc\/ssh\/sshrc \]; then$/m);
  expect(render('ssh-rc', buildContext(home, true))).not.toContain('/etc/ssh/sshrc');
  const file = write('ssh-rc-owns', text);
  expect(CHECKS['ssh-rc'].map(([cmd, args]) => run(cmd, [...args, file])).filter((res) => res.code !== 0)).toEqual([]);
});

test('ssh-rc with the user\'s own lines after it: xauth gets the cookie, and those lines read the same line on stdin', () => {
  const xauthority = path.join(dir, 'xauthority');
  const file = write('ssh-rc-then-mine', `${render('ssh-rc', buildContext(home, true))}read -r p c; echo "mine read: $p $c"\n`);
  const res = run('dash', [file], { env: { PATH: TEST_PATH, HOME: path.join(dir, 'no-home'), DISPLAY: 'localhost:12.0', XAUTHORITY: xauthority }, input: 'MIT-MAGIC-COOKIE-1 0123abcd\n' });
  expect(res.stdout).toBe('mine read: MIT-MAGIC-COOKIE-1 0123abcd\n');
  expect(run('xauth', ['-f', xauthority, 'list']).stdout).toMatch(/\/unix:12\s+MIT-MAGIC-COOKIE-1\s+0123abcd\n/);
});

test('control: with a home that has a space but no single quote, sh and bash are shellcheck-clean', () => {
  // Pins the shellcheck findings above (if any) on the quote in the home path, nothing else.
  const ctx = buildContext(path.join(root, 'plain home'), true);
  ok('shellcheck -s sh', run('shellcheck', ['-s', 'sh', write('plain-profile.sh', render('sh', ctx))]));
  ok('shellcheck -s bash', run('shellcheck', ['-s', 'bash', write('plain-bashrc.bash', render('bash', ctx))]));
});

describe('the snippets, run by the real shells inside tmux, set SSH_AUTH_SOCK to the link exactly', () => {
  let ctx: RenderContext;
  const env = (extra: Record<string, string> = {}) => ({ PATH: TEST_PATH, HOME: home, TMUX: '/tmp/fake,1,0', TERM: 'dumb', ...extra });
  /** A tmux pane's link: its session's, named by the server pid and session number ending $TMUX. */
  const sessionLink = (serverPid: number, session: number) => path.join(path.dirname(ctx.link), `tmux.${serverPid}.${session}.sock`);
  beforeAll(() => {
    ctx = buildContext(home, true);
    fs.mkdirSync(ctx.linkDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(ctx.helper, render('helper', ctx));
  });
  // The first command's hook made the session links (they dangled): the helper tests below
  // start from a host directory without them.
  afterAll(() => {
    for (const name of fs.readdirSync(path.dirname(ctx.link))) if (name.startsWith('tmux.')) fs.rmSync(path.join(path.dirname(ctx.link), name));
  });

  test('sh (dash, interactive): no prompt hook, so the host link', () => {
    const file = write('run-profile.sh', render('sh', ctx));
    const res = run('sh', ['-i', '-c', '. "$1"; printf "%s" "$SSH_AUTH_SOCK"', 'sh', file], { env: env() });
    expect(res.stdout).toBe(ctx.link);
  });

  // A socket path may hold commas; a $TMUX that does not end in two numbers names no session.
  const panes: [string, string, (c: RenderContext) => string][] = [
    ['/tmp/fake,1,0', 'session 0 of server 1', () => sessionLink(1, 0)],
    ['/tmp/odd,dir/default,4242,17', 'a socket path with commas', () => sessionLink(4242, 17)],
    ['/tmp/fake,x,0', 'a $TMUX of another form: the host link', (c) => c.link],
  ];

  test.each(panes)('bash (interactive, no rc files), TMUX=%s: %s', (tmuxVar, _case, want) => {
    const file = write('run-bashrc.bash', render('bash', ctx));
    const res = run('bash', ['--norc', '--noprofile', '-i', '-c', '. "$1"; printf "%s|%s" "$SSH_AUTH_SOCK" "$PROMPT_COMMAND"', 'bash', file], { env: env({ TMUX: tmuxVar }) });
    expect(res.stdout).toBe(`${want(ctx)}|__stf_heal && :`);
  });

  test.each(panes)('zsh (interactive, no rc files), TMUX=%s: %s', (tmuxVar, _case, want) => {
    const file = write('run-zshrc.zsh', render('zsh', ctx));
    const res = run('zsh', ['-f', '-i', '-c', '. "$1"; printf "%s|%s" "$SSH_AUTH_SOCK" "${precmd_functions[*]}"', 'zsh', file], {
      env: env({ TMUX: tmuxVar, ZDOTDIR: path.join(root, 'no-zdotdir') }),
    });
    expect(res.stdout).toBe(`${want(ctx)}|__stf_heal`);
  });

  test.each(panes)('fish (interactive, no config), TMUX=%s: %s', (tmuxVar, _case, want) => {
    const file = write('run-conf.fish', render('fish', ctx));
    const res = run('fish', ['--no-config', '-i', '-c', 'source $argv[1]; printf "%s" "$SSH_AUTH_SOCK"', file], {
      env: env({ TMUX: tmuxVar, XDG_CONFIG_HOME: path.join(root, 'no-xdg'), XDG_DATA_HOME: path.join(root, 'no-xdg') }),
    });
    expect(res.stdout).toBe(want(ctx));
  });
});

describe('without the rest of the install (dotfiles on another machine), the snippets leave SSH_AUTH_SOCK alone and print nothing', () => {
  // A home where only the dotfiles arrived: no ~/.ssh/ssh-tmux-fix.
  let bare: string;
  let ctx: RenderContext;
  const raw = '/tmp/ssh-raw/agent.1';
  const env = (extra: Record<string, string> = {}) => ({ PATH: TEST_PATH, HOME: bare, TERM: 'dumb', SSH_AUTH_SOCK: raw, ...extra });
  beforeAll(() => {
    bare = path.join(root, "second o'machine");
    fs.mkdirSync(bare);
    ctx = buildContext(bare, true);
  });
  const panes: [string, Record<string, string>][] = [['in a tmux pane', { TMUX: '/tmp/fake,1,0' }], ['outside', {}]];

  test.each(panes)('sh and bash reading ~/.profile (%s)', (_where, extra) => {
    const file = write('bare-profile.sh', render('sh', ctx));
    for (const shell of ['sh', 'bash']) {
      const res = run(shell, ['-i', '-c', '. "$1"; printf "%s" "$SSH_AUTH_SOCK"', shell, file], { env: env(extra) });
      expect([shell, res.stdout, res.stderr.replace(/^.*(no job control|job control turned off|cannot set terminal process group|Inappropriate ioctl).*\n/gm, '')]).toEqual([shell, raw, '']);
    }
  });

  test.each(panes)('bash reading ~/.bashrc (%s)', (_where, extra) => {
    const file = write('bare-bashrc.bash', render('bash-rc', ctx));
    const res = run('bash', ['--norc', '--noprofile', '-i', '-c', '. "$1"; printf "%s|%s" "$SSH_AUTH_SOCK" "${PROMPT_COMMAND-}"', 'bash', file], { env: env(extra) });
    expect([res.stdout, res.stderr.replace(/^.*(no job control|job control turned off|cannot set terminal process group|Inappropriate ioctl).*\n/gm, '')]).toEqual([`${raw}|`, '']);
  });

  test.each(panes)('bash with the bash part itself pasted (snippet bash) (%s)', (_where, extra) => {
    const file = write('bare-bash-part.bash', render('bash', ctx));
    const res = run('bash', ['--norc', '--noprofile', '-i', '-c', '. "$1"; printf "%s|%s|%s" "$SSH_AUTH_SOCK" "${PROMPT_COMMAND-}" "$(trap -p DEBUG)"', 'bash', file], { env: env(extra) });
    expect([res.stdout, res.stderr.replace(/^.*(no job control|job control turned off|cannot set terminal process group|Inappropriate ioctl).*\n/gm, '')]).toEqual([`${raw}||`, '']);
  });

  test.each(panes)('zsh (%s)', (_where, extra) => {
    const file = write('bare.zsh', render('zsh', ctx));
    const res = run('zsh', ['-f', '-i', '-c', '. "$1"; printf "%s|%s" "$SSH_AUTH_SOCK" "${precmd_functions[*]}"', 'zsh', file], {
      env: env({ ZDOTDIR: path.join(root, 'no-zdotdir'), ...extra }),
    });
    expect([res.stdout, res.stderr]).toEqual([`${raw}|`, '']);
  });

  test.each(panes)('fish (%s)', (_where, extra) => {
    const file = write('bare.fish', render('fish', ctx));
    const res = run('fish', ['--no-config', '-i', '-c', 'source $argv[1]; printf "%s|%s" "$SSH_AUTH_SOCK" (functions -q __stf_heal; and echo hooked)', file], {
      env: env({ XDG_CONFIG_HOME: path.join(root, 'no-xdg'), XDG_DATA_HOME: path.join(root, 'no-xdg'), ...extra }),
    });
    expect([res.stdout, res.stderr]).toEqual([`${raw}|`, '']);
  });
});

describe('the helper, run by /bin/sh, points the link at a socket of this user', () => {
  let ctx: RenderContext;
  let server: net.Server;
  let sock: string;
  beforeAll(async () => {
    ctx = buildContext(home, true);
    fs.mkdirSync(ctx.linkDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(ctx.helper, render('helper', ctx));
    sock = path.join(root, 's.sock');
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test.each([true, false])('login mode, atomicLn=%s: the link is created and prints nothing', (atomicLn) => {
    fs.writeFileSync(ctx.helper, render('helper', buildContext(home, atomicLn)));
    fs.rmSync(ctx.link, { force: true });
    const res = run('/bin/sh', [ctx.helper, 'login'], { env: { PATH: TEST_PATH, HOME: home, SSH_AUTH_SOCK: sock } });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('');
    expect(fs.readlinkSync(ctx.link)).toBe(sock);
    // Run again with the link itself as SSH_AUTH_SOCK: it must not make a self-referencing link.
    const again = run('/bin/sh', [ctx.helper, 'login'], { env: { PATH: TEST_PATH, HOME: home, SSH_AUTH_SOCK: ctx.link } });
    expect(again.code).toBe(0);
    expect(fs.readlinkSync(ctx.link)).toBe(sock);
    // This host's directory holds the link; 1.0.0's link is a relative link to it.
    expect(fs.readdirSync(ctx.linkDir).sort()).toEqual(['agent.sock', 'refresh.sh', hostname()].sort());
    expect(fs.readdirSync(path.dirname(ctx.link))).toEqual(['agent.sock']);
    expect(fs.readlinkSync(ctx.legacyLink)).toBe(`${hostname()}/agent.sock`);
  });
});

describe('the tmux block, loaded by a real private tmux server', () => {
  let tmuxTmp: string;
  const name = `stf-unit-${process.pid}-${Date.now()}`;
  let ctx: RenderContext;
  const tmux = (args: string[], extra: Record<string, string> = {}) =>
    run('tmux', ['-L', name, ...args], { env: { PATH: TEST_PATH, HOME: home, TMUX_TMPDIR: tmuxTmp, TERM: 'xterm', ...extra } });

  beforeAll(() => {
    ctx = buildContext(home, true);
    tmuxTmp = path.join(root, 'tmux-tmp');
    fs.mkdirSync(tmuxTmp, { mode: 0o700 });
  });
  afterAll(() => {
    tmux(['kill-server']);
  });

  const block = (name: TemplateName) => insertBlock('', Buffer.from(render(name, ctx), 'utf8').toString('latin1'), VERSION, 'append', false);

  test('without the install\'s own file the line in ~/.tmux.conf is silent and sets nothing', () => {
    const conf = write('tmux-alone.conf', `set -g base-index 1\n${block('tmux-rc')}`);
    const started = tmux(['-f', conf, 'new-session', '-d', '-s', 'alone', 'sleep 5'], { SSH_AUTH_SOCK: '/tmp/ssh-bogus/agent.1' });
    ok('tmux new-session', started);
    expect(started.stdout + started.stderr).toBe('');
    expect(tmux(['show-environment', '-g', 'SSH_AUTH_SOCK']).stdout).not.toContain(ctx.link);
    expect(tmux(['show-hooks', '-g']).stdout).not.toContain('[7311]');
    expect(tmux(['show-environment', '-t', 'alone', 'SSH_AUTH_SOCK']).stdout).toBe('SSH_AUTH_SOCK=/tmp/ssh-bogus/agent.1\n');
    expect(tmux(['show-options', '-gv', 'base-index']).stdout).toBe('1\n');
    // A config loaded at start keeps its errors for the first client to see: load it again as
    // a command, which says them.
    const again = tmux(['source-file', conf]);
    expect([again.code, again.stdout, again.stderr]).toEqual([0, '', '']);
    tmux(['kill-server']);
  });

  test('global environment and the three hooks hold the link, and the new session gets it too', () => {
    // The line exactly as the install writes it into ~/.tmux.conf, markers included, and the
    // install's own file it sources.
    fs.mkdirSync(path.dirname(tmuxOwnFile(home)), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmuxOwnFile(home), block('tmux'), 'latin1');
    const conf = write('tmux.conf', `set -g base-index 1\n${block('tmux-rc')}`);
    const started = tmux(['-f', conf, 'new-session', '-d', 'sleep 5'], { SSH_AUTH_SOCK: '/tmp/ssh-bogus/agent.1' });
    ok('tmux new-session', started);

    const env = tmux(['show-environment', '-g', 'SSH_AUTH_SOCK']);
    ok('show-environment -g', env);
    // tmux 3.2 and later: the hostname expanded (#{host}), so each host of a shared home has its own.
    expect(env.stdout).toBe(`SSH_AUTH_SOCK=${ctx.link}\n`);
    expect(ctx.link).toBe(path.join(ctx.linkDir, hostname(), 'agent.sock'));

    const hooks = tmux(['show-hooks', '-g']);
    ok('show-hooks -g', hooks);
    const ours = hooks.stdout.split('\n').filter((l) => l.includes('[7311]')).sort();
    const value = `set-environment -F SSH_AUTH_SOCK "${tmuxLinkFormat(ctx.linkDir)}"`;
    expect(ours).toEqual([`client-attached[7311] ${value}`, `client-session-changed[7311] ${value}`, `session-created[7311] ${value}`]);

    // update-environment copied the client's bogus socket into the session; session-created put the link back.
    const session = tmux(['show-environment', 'SSH_AUTH_SOCK']);
    expect(session.stdout).toBe(`SSH_AUTH_SOCK=${ctx.link}\n`);
    // The user's own line before the block still applies.
    expect(tmux(['show-options', '-gv', 'base-index']).stdout).toBe('1\n');
  });
});

test('the built CLI renders each snippet exactly as the sources do (templates compiled at build time)', () => {
  const names = NAMES.filter((name) => name !== 'bash-rc');
  expect(names.length).toBeGreaterThan(5);
  for (const name of names) {
    const built = run(process.execPath, [CLI, 'snippet', name, '--home', home], { env: { PATH: TEST_PATH, HOME: home } });
    ok(`snippet ${name}`, built);
    expect(built.stdout).toBe(render(name, buildContext(home)));
  }
});
