/*
 * The controller's side of the Ansible playbook (src/fleet.ts): from what the hosts report
 * (find, stat, slurp results, built here from real homes the way those modules see them), the
 * plan must hold exactly the directories and bytes `install` plans for the same home.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VERSION } from '../../src/context';
import { FindSpec, HostReport, planHost, probe } from '../../src/fleet';
import { planInstall } from '../../src/plan';
import { Part, PARTS } from '../../src/targets';
import { api, CLI, ensureBuilt, makeRoot, removeAllRoots, stfError } from './helpers';
import { installBashIt, installOhMyTmux, installOhMyZsh, installPrezto } from '../support/frameworks';

beforeAll(ensureBuilt);
afterAll(removeAllRoots);

const USER = 'alice';
const ALL: Part[] = [...PARTS];

function passwd(home: string): HostReport['passwd'] {
  return [{ item: USER, ansible_facts: { getent_passwd: { [USER]: ['x', '1000', '1000', '', home, '/bin/bash'] } } }];
}

/** ansible.builtin.find, as the playbook calls it: hidden files, any type, glob patterns. */
function find(spec: FindSpec, follow: boolean) {
  const files: { path: string; islnk: boolean; isdir: boolean; mode: string }[] = [];
  const walk = (dir: string, depth: number): void => {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      const st = follow ? fs.statSync(p, { throwIfNoEntry: false }) ?? fs.lstatSync(p) : fs.lstatSync(p);
      if (spec.patterns.includes(name)) {
        files.push({ path: p, islnk: st.isSymbolicLink(), isdir: st.isDirectory(), mode: `0${(st.mode & 0o7777).toString(8)}` });
      }
      if (st.isDirectory() && depth < spec.depth) walk(p, depth + 1);
    }
  };
  for (const root of spec.paths) walk(root, 1);
  return { item: spec, files };
}

/** Everything the playbook would register for `home`, read from the real files. */
function reportOf(home: string, shells = '/bin/bash\n/usr/bin/zsh\n/usr/bin/fish\n'): HostReport {
  const spec = probe({ passwd: passwd(home) });
  const top = spec.top.map((s) => find(s, false));
  const foundTop = top.flatMap((r) => r.files.map((f) => f.path));
  const deep = spec.deep.map((s) => find({ ...s, paths: s.paths.filter((p) => foundTop.includes(p)) }, true));
  const entries = [...top, ...deep].flatMap((r) => r.files.map((f) => [r, f] as [typeof r, typeof f]));
  return {
    passwd: passwd(home),
    ln: 'ln (GNU coreutils) 9.1\n',
    shells: { content: Buffer.from(shells).toString('base64') },
    top,
    deep,
    links: entries.filter(([, f]) => f.islnk).map(([r, f]) => ({ item: [r, f], stat: { lnk_source: fs.realpathSync(f.path) } })),
    slurp: entries
      .filter(([, f]) => !f.isdir && spec.files.includes(f.path))
      .map(([r, f]) => {
        try {
          return { item: [r, f], content: fs.readFileSync(f.path).toString('base64') };
        } catch {
          return { item: [r, f], failed: true };
        }
      }),
  } as HostReport;
}

function planOf(home: string) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'stf-fleet-out-'));
  try {
    const plan = planHost(reportOf(home), out, () => ALL);
    return { ...plan, files: plan.files.map((f) => ({ ...f, bytes: fs.readFileSync(f.src) })) };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

function writeFiles(home: string, files: Record<string, string | Buffer>): void {
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
    fs.writeFileSync(path.join(home, rel), data);
  }
}

/** What install plans for the same home, in the playbook's terms. */
function installPlan(home: string) {
  const x = api(home);
  const plan = planInstall(x.he, { ...x.ctx, atomicLn: true }, ALL, false);
  return {
    dirs: plan.createDirs.map((d) => ({ user: USER, path: d.path, mode: `0${d.mode.toString(8)}` })),
    files: plan.changes.map((c) => ({ path: c.realPath, bytes: c.after, ...(c.before === null ? { mode: `0${c.mode.toString(8)}` } : {}) })),
  };
}

const HOMES: [string, Record<string, string | Buffer>, (home: string) => void][] = [
  ['an empty home', {}, () => {}],
  ['a last line without newline, CRLF and bytes that are not UTF-8', { '.bashrc': Buffer.from('a=1\r\nb=\xff\xfe caf\xe9', 'latin1') }, () => {}],
  ['~/.ssh/rc with a #! line, an existing ~/.ssh with loose modes', { '.ssh/rc': '#!/bin/sh\necho mine\n' }, (h) => fs.chmodSync(path.join(h, '.ssh'), 0o775)],
  ['.bash_profile a symlink to .profile (two names, one file)', { '.profile': 'export A=1\n' }, (h) => fs.symlinkSync('.profile', path.join(h, '.bash_profile'))],
  ['dotfiles linked from a repository, ~/.config/fish linked too', { 'dotfiles/bashrc': 'alias ll=ls\n', 'dotfiles/fish/conf.d/mine.fish': 'set -x A 1\n' }, (h) => {
    fs.symlinkSync(path.join(h, 'dotfiles', 'bashrc'), path.join(h, '.bashrc'));
    fs.mkdirSync(path.join(h, '.config'));
    fs.symlinkSync(path.join(h, 'dotfiles', 'fish'), path.join(h, '.config', 'fish'));
  }],
  ['an XDG tmux.conf and no ~/.tmux.conf', { '.config/tmux/tmux.conf': 'set -g mouse on\n' }, () => {}],
  // Frameworks as their READMEs install them: the parts go where install puts them.
  ['Oh my tmux! (~/.tmux.conf.local gets the block, never the checkout)', {}, (h) => void installOhMyTmux(h)],
  ['oh-my-zsh and bash-it (their custom dirs)', {}, (h) => void (installOhMyZsh(h), installBashIt(h))],
  ['prezto (nothing in its checkout)', {}, (h) => void installPrezto(h)],
];

describe('ansible plan: the bytes install would write', () => {
  test.each(HOMES)('%s', (_what, files, setup) => {
    const { home } = makeRoot();
    writeFiles(home, files);
    setup(home);
    const expected = installPlan(home);
    const plan = planOf(home);
    const record = path.join(home, '.local', 'state', 'ssh-tmux-fix', 'installed.json');
    expect(plan.files.filter((f) => f.path !== record).map(({ path: p, bytes, mode }) => ({ path: p, bytes, ...(mode ? { mode } : {}) }))).toEqual(expected.files);
    expect(plan.files.every((f) => f.user === USER)).toBe(true);
    expect(plan.dirs.filter((d) => !d.path.includes('/.local'))).toEqual(expected.dirs);
    // The record uninstall reads: every file and every directory the play creates.
    const placed = JSON.parse(plan.files.find((f) => f.path === record)!.bytes.toString());
    expect(placed).toEqual({ version: VERSION, files: installPlan(home).files.map(() => expect.any(String)), createdDirs: expected.dirs.map((d) => d.path) });
  });

  test('a loose ~/.ssh warns as install does, naming the real path', () => {
    const { home } = makeRoot();
    writeFiles(home, { '.ssh/known_hosts': '' });
    fs.chmodSync(path.join(home, '.ssh'), 0o777);
    expect(planOf(home).warnings).toEqual([`${USER}: ${path.join(home, '.ssh')} is writable by group or others (mode 777); sshd may refuse keys. Left as is: run 'chmod 700 ${path.join(home, '.ssh')}' to fix it.`]);
  });

  test('a link target that is not a real path (a host lying) never leads out of the mirror', () => {
    const { root, home } = makeRoot();
    writeFiles(home, { 'dotfiles/bashrc': 'mine\n' });
    fs.symlinkSync(path.join(home, 'dotfiles', 'bashrc'), path.join(home, '.bashrc'));
    const report = reportOf(home);
    const escape = path.join(root, 'escaped');
    for (const link of report.links) link.stat = { lnk_source: `${'/..'.repeat(40)}${escape}` };
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'stf-fleet-out-'));
    try {
      planHost(report, out, () => ALL);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
    expect(fs.existsSync(escape)).toBe(false);
  });

  test('an installed home plans nothing', () => {
    const { home } = makeRoot();
    writeFiles(home, { '.bashrc': 'mine\n' });
    const x = api(home);
    const plan = planInstall(x.he, { ...x.ctx, atomicLn: true }, ALL, false);
    for (const c of plan.changes) writeFiles(home, { [path.relative(home, c.realPath)]: c.after! });
    expect(planOf(home)).toMatchObject({ dirs: [], files: [] });
  });

  test('refusals are install\'s, with the host\'s paths: an edited block, a read-only dotfile', () => {
    const { home } = makeRoot();
    writeFiles(home, { '.zshrc': '# >>> ssh-tmux-fix 1.0.0 sum=000000000000 >>>\nedited\n# <<< ssh-tmux-fix <<<\n' });
    const err = stfError(() => planOf(home));
    expect(err.message).toBe(
      `${USER}: ${path.join(home, '.zshrc')}: the ssh-tmux-fix block (lines 1-3) was edited by hand; it was not replaced and nothing was changed.\n` +
        '  next step: move your edits outside the block, or run again with --force to replace it anyway',
    );

    const other = makeRoot().home;
    writeFiles(other, { '.bashrc': 'mine\n' });
    fs.chmodSync(path.join(other, '.bashrc'), 0o444);
    expect(stfError(() => planOf(other)).message).toMatch(new RegExp(`^${USER}: ${path.join(other, '.bashrc').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is read-only \\(mode 444\\)`));
  });
});

describe('ssh-tmux-fix ansible (the CLI the playbook runs)', () => {
  test('reads a report that arrives slowly through a pipe, as Ansible writes it', async () => {
    const { home } = makeRoot();
    writeFiles(home, { '.bashrc': 'mine\n' });
    const text = JSON.stringify(reportOf(home));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'stf-fleet-out-'));
    try {
      const child = spawn(process.execPath, [CLI, 'ansible', 'plan', '--out', out], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      child.stdin.write(text.slice(0, 100));
      await new Promise((r) => setTimeout(r, 500)); // the CLI is reading by now and finds the pipe empty
      child.stdin.end(text.slice(100));
      expect({ code: await closed, stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(stdout).files.map((f: { path: string }) => f.path)).toContain(path.join(home, '.bashrc'));
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
