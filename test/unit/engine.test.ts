/*
 * The engine around the blocks: refusals (edited blocks, broken homes, no terminal), the lock,
 * backup sets (list, rollback --to, the backup a rollback makes first, pruning), --dry-run, and
 * the exit codes and messages of the CLI. Trees are compared byte for byte before and after.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyPlan } from '../../src/apply';
import { findBlocks } from '../../src/blocks';
import { VERSION } from '../../src/context';
import { StfError } from '../../src/errors';
import { planInstall, planRollback, planUninstall } from '../../src/plan';
import { KEEP_BACKUP_SETS } from '../../src/state';
import { Part } from '../../src/targets';
import { render } from '../../src/render';
import { api, CLI, dropStateParents, ensureBuilt, isRoot, makeRoot, removeAllRoots, run, runCli, snapshot, stfError, Tree, treeDiff } from './helpers';

const PARTS_USED: Part[] = ['ssh-rc', 'sh', 'bash', 'tmux'];
const STATE = '.local/state/ssh-tmux-fix';

beforeAll(ensureBuilt);
afterAll(removeAllRoots);

function homeWith(files: Record<string, string | Buffer>): string {
  const { home } = makeRoot();
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
    fs.writeFileSync(path.join(home, rel), data);
  }
  return home;
}

function expectSameTree(actual: Tree, expected: Tree): void {
  expect(treeDiff(actual, expected)).toEqual([]);
}

/** The home without the tool's state directory and the empty .local parents lock() made. */
function userTree(home: string, before: Tree): Tree {
  return dropStateParents(snapshot(home, [STATE]), before, '');
}


function install(home: string, parts: Part[] = PARTS_USED, force = false) {
  const x = api(home);
  return applyPlan(planInstall(x.he, x.ctx, parts, force), x.state);
}

function uninstall(home: string, force = false) {
  const x = api(home);
  return applyPlan(planUninstall(x.he, x.state, force), x.state);
}

/** Adds a line right after the begin marker of the file's block: a hand edit inside it. */
function editInsideBlock(file: string): { beginLine: number; endLine: number } {
  const text = fs.readFileSync(file, 'latin1');
  const [b] = findBlocks(text, file);
  fs.writeFileSync(file, Buffer.from(`${text.slice(0, b.bodyStart)}echo edited by hand\n${text.slice(b.bodyStart)}`, 'latin1'));
  return { beginLine: b.beginLine, endLine: b.endLine + 1 };
}

// ---------------------------------------------------------------------------------------------

describe('a block edited by hand', () => {
  test('install and uninstall refuse without force, naming file and lines, and write nothing', () => {
    const home = homeWith({ '.bashrc': 'mine\n', '.profile': 'export X=1\n' });
    install(home);
    const bashrc = path.join(home, '.bashrc');
    const { beginLine, endLine } = editInsideBlock(bashrc);
    const before = snapshot(home);

    const x = api(home);
    const refusedInstall = stfError(() => applyPlan(planInstall(x.he, x.ctx, PARTS_USED, false), x.state));
    expect(refusedInstall.message).toContain(`${bashrc}: the ssh-tmux-fix block (lines ${beginLine}-${endLine}) was edited by hand`);
    expect(refusedInstall.message).toMatch(/nothing was changed/);
    expect(refusedInstall.message).toMatch(/--force/);
    expectSameTree(snapshot(home), before);

    const refusedUninstall = stfError(() => applyPlan(planUninstall(x.he, x.state, false), x.state));
    expect(refusedUninstall.message).toContain(`${bashrc}: the ssh-tmux-fix block (lines ${beginLine}-${endLine}) was edited by hand; it was not removed`);
    expectSameTree(snapshot(home), before);
  });

  test('install --force puts the current block back; uninstall --force removes it', () => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    install(home);
    const bashrc = path.join(home, '.bashrc');
    const installed = fs.readFileSync(bashrc);
    editInsideBlock(bashrc);

    install(home, PARTS_USED, true);
    expect(fs.readFileSync(bashrc).equals(installed)).toBe(true);

    editInsideBlock(bashrc);
    uninstall(home, true);
    expect(fs.readFileSync(bashrc, 'latin1')).toBe('mine\n');
  });

  test('the CLI: exit 1 with the refusal, home unchanged; --force succeeds', () => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    expect(runCli(['install', '--yes', '--shell', 'bash'], { home }).code).toBe(0);
    const bashrc = path.join(home, '.bashrc');
    const { beginLine, endLine } = editInsideBlock(bashrc);
    const before = snapshot(home);

    for (const args of [['install', '--yes', '--shell', 'bash'], ['uninstall', '--yes']]) {
      const res = runCli(args, { home });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`${bashrc}: the ssh-tmux-fix block (lines ${beginLine}-${endLine}) was edited by hand`);
      expect(res.stderr).toMatch(/next step: .*--force/);
      expectSameTree(snapshot(home), before);
    }
    const forced = runCli(['uninstall', '--yes', '--force'], { home });
    expect(forced.code).toBe(0);
    expect(fs.readFileSync(bashrc, 'latin1')).toBe('mine\n');
  });

  test('two blocks in one file are refused, naming both line ranges', () => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    install(home, ['bash']);
    const bashrc = path.join(home, '.bashrc');
    const text = fs.readFileSync(bashrc, 'latin1');
    const [b] = findBlocks(text, bashrc);
    const twice = `${text}${text.slice(b.start, b.end)}`;
    fs.writeFileSync(bashrc, Buffer.from(twice, 'latin1'));
    const [b1, b2] = findBlocks(twice, bashrc);
    const before = snapshot(home);
    const x = api(home);
    const err = stfError(() => applyPlan(planInstall(x.he, x.ctx, ['bash'], true), x.state));
    expect(err.message).toContain(`${bashrc}: 2 ssh-tmux-fix blocks (lines ${b1.beginLine}-${b1.endLine}, lines ${b2.beginLine}-${b2.endLine})`);
    expect(() => planUninstall(x.he, x.state, true)).toThrow(StfError);
    expectSameTree(snapshot(home), before);
  });
});

describe('the lock', () => {
  test('a second applyPlan while the first holds the lock is refused with a clear message; nothing written', () => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    const x = api(home);
    const unlock = x.state.lock(); // exactly what the first applyPlan holds while it writes
    try {
      const before = snapshot(home);
      const err = stfError(() => applyPlan(planInstall(x.he, x.ctx, PARTS_USED, false), x.state));
      expect(err.message).toContain(`another ssh-tmux-fix run (pid ${process.pid}) is changing this home; nothing was changed (lock: ${path.join(x.stateDir, 'lock')})`);
      expect(err.message).toMatch(/next step: wait for it to finish/);
      expectSameTree(snapshot(home), before);
    } finally {
      unlock();
    }
    // Released: the next run goes through and leaves no lock behind.
    install(home);
    expect(fs.existsSync(path.join(x.stateDir, 'lock'))).toBe(false);
  });

  test('another process holding the lock makes the CLI exit 1 naming its pid; home unchanged', async () => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    const x = api(home);
    const holder = spawn(
      process.execPath,
      ['-e', `const { StateDir } = require(${JSON.stringify(path.join(path.dirname(CLI), 'state.js'))});
const unlock = new StateDir(process.argv[1]).lock();
process.stdout.write('locked\\n');
process.stdin.on('end', () => { unlock(); process.exit(0); });
process.stdin.resume();`, x.stateDir],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        holder.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
      });
      const before = snapshot(home);
      const res = runCli(['install', '--yes', '--shell', 'bash'], { home });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`another ssh-tmux-fix run (pid ${holder.pid}) is changing this home; nothing was changed`);
      expectSameTree(snapshot(home), before);
    } finally {
      holder.stdin.end();
      await new Promise((resolve) => (holder.exitCode !== null ? resolve(null) : holder.on('exit', resolve)));
    }
    expect(runCli(['install', '--yes', '--shell', 'bash'], { home }).code).toBe(0);
  });

  test.each([
    ['the pid of a process that has exited', () => `${spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout}\n`],
    ['an empty lock file (killed between create and write)', () => ''],
    ['garbage', () => 'not a pid\n'],
  ])('a stale lock holding %s is taken over', (_what, content) => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    const x = api(home);
    const lockFile = path.join(x.stateDir, 'lock');
    const text = content();
    const pid = Number.parseInt(text, 10);
    if (pid > 0) expect(() => process.kill(pid, 0)).toThrow(); // really dead
    fs.mkdirSync(x.stateDir, { recursive: true });
    fs.writeFileSync(lockFile, text);
    const { backupSet } = install(home);
    expect(backupSet?.status).toBe('complete');
    expect(fs.readFileSync(path.join(home, '.bashrc'), 'latin1')).toMatch(/^mine\n# >>> ssh-tmux-fix /);
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  test('a lock held by a zombie (killed, not yet reaped by its parent) is taken over', async () => {
    // `sleep` becomes the parent of the background sleep and never waits for it: once killed,
    // the child stays a zombie until its parent ends.
    const parent = spawn('/bin/sh', ['-c', 'sleep 600 & echo $!; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pid = Number.parseInt(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))), 10);
      // Kill only once sh has exec'd sleep: sh itself would reap the child.
      const parentComm = () => fs.readFileSync(`/proc/${parent.pid}/comm`, 'utf8').trim();
      for (let i = 0; i < 200 && parentComm() !== 'sleep'; i += 1) await new Promise((r) => setTimeout(r, 10));
      expect(parentComm()).toBe('sleep');
      process.kill(pid, 'SIGKILL');
      const stateOf = () => /\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
      for (let i = 0; i < 200 && stateOf() !== 'Z'; i += 1) await new Promise((r) => setTimeout(r, 10));
      expect(stateOf()).toBe('Z');
      expect(() => process.kill(pid, 0)).not.toThrow(); // kill(0) alone calls it alive

      const home = homeWith({ '.bashrc': 'mine\n' });
      const x = api(home);
      const lockFile = path.join(x.stateDir, 'lock');
      fs.mkdirSync(x.stateDir, { recursive: true });
      fs.writeFileSync(lockFile, `${pid}\n`);
      expect(install(home).backupSet?.status).toBe('complete');
      expect(fs.existsSync(lockFile)).toBe(false);
      expect(stateOf()).toBe('Z'); // still unreaped: the lock was taken over from a zombie
    } finally {
      parent.kill('SIGKILL');
      await new Promise((resolve) => (parent.exitCode !== null || parent.signalCode !== null ? resolve(null) : parent.on('exit', resolve)));
    }
  });
});

describe('backup sets and rollback', () => {
  test('rollback --list lists every set with its time, action, version and files', () => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    const empty = runCli(['rollback', '--list'], { home });
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe(`No backup sets in ${path.join(home, STATE, 'backups')}.\n`);

    expect(runCli(['install', '--yes', '--shell', 'bash'], { home }).code).toBe(0);
    expect(runCli(['uninstall', '--yes'], { home }).code).toBe(0);
    const res = runCli(['rollback', '--list'], { home });
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    const sets = api(home).state.listSets();
    expect(sets.map((s) => s.action)).toEqual(['install', 'uninstall']);
    expect(lines).toHaveLength(2);
    // --shell bash: ssh-rc, bash and tmux parts (sh only when asked for or by default).
    // bash reads ~/.profile as a login shell here (no ~/.bash_profile): it gets the POSIX block.
    const installFiles = '~/.ssh/ssh-tmux-fix/refresh.sh, ~/.ssh/rc, ~/.ssh/ssh-tmux-fix/init.bash, ~/.bashrc, ~/.profile, ~/.ssh/ssh-tmux-fix/tmux.conf, ~/.tmux.conf';
    expect(lines[0]).toBe(`${sets[0].id}  ${sets[0].time}  install ${VERSION}  ${installFiles}`);
    // Uninstall looks at every file any install may have written, in the order of all parts.
    const uninstallFiles = '~/.ssh/ssh-tmux-fix/refresh.sh, ~/.ssh/rc, ~/.profile, ~/.ssh/ssh-tmux-fix/init.bash, ~/.bashrc, ~/.ssh/ssh-tmux-fix/tmux.conf, ~/.tmux.conf';
    expect(lines[1]).toBe(`${sets[1].id}  ${sets[1].time}  uninstall ${VERSION}  ${uninstallFiles}`);
    for (const line of lines) expect(line).toMatch(/^\d{8}T\d{6}Z-\d+ {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z {2}/);
  });

  test('rollback --to ID restores exactly the files of that set, to their bytes before it', () => {
    const home = homeWith({ '.bashrc': 'orig\n' });
    const original = snapshot(home);
    const set1 = install(home, ['bash']).backupSet;
    const set2 = install(home, ['bash', 'tmux']).backupSet;
    expect(set2?.files.map((f) => path.relative(home, f.path))).toEqual(['.ssh/ssh-tmux-fix/tmux.conf', '.tmux.conf']);

    const toFirst = runCli(['rollback', '--yes', '--to', set1?.id as string], { home });
    expect(toFirst.code).toBe(0);
    expect(fs.readFileSync(path.join(home, '.bashrc'), 'latin1')).toBe('orig\n');
    // .tmux.conf and the install's own tmux file are not in set 1: left as the second install wrote them.
    expect(fs.readdirSync(path.join(home, '.ssh', 'ssh-tmux-fix'))).toEqual(['tmux.conf']);
    expect(fs.readFileSync(path.join(home, '.tmux.conf'), 'latin1')).toMatch(/^# >>> ssh-tmux-fix /);

    const toSecond = runCli(['rollback', '--yes', '--to', set2?.id as string], { home });
    expect(toSecond.code).toBe(0);
    expectSameTree(userTree(home, original), original);
  });

  test('rollback --to an unknown ID exits 1 and says how to list the sets', () => {
    const home = homeWith({ '.bashrc': 'orig\n' });
    install(home, ['bash']);
    const before = snapshot(home);
    const res = runCli(['rollback', '--yes', '--to', '20000101T000000Z-9'], { home });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`no backup set 20000101T000000Z-9 in ${path.join(home, STATE, 'backups')}`);
    expect(res.stderr).toContain('rollback --list');
    expectSameTree(snapshot(home), before);
  });

  test('rollback first backs up the current state as a "rollback" set, and rolling back to it restores the install', () => {
    const home = homeWith({ '.bashrc': 'orig\n', '.profile': 'export P=1' });
    const original = snapshot(home);
    install(home);
    const installed = snapshot(home, [STATE]);

    const res = runCli(['rollback', '--yes'], { home });
    expect(res.code).toBe(0);
    expectSameTree(userTree(home, original), original);
    const id = /The files as they were just before: ~\/\.local\/state\/ssh-tmux-fix\/backups\/(\S+)/.exec(res.stdout)?.[1];
    const x = api(home);
    const set = x.state.listSets().at(-1);
    expect(set).toMatchObject({ id, action: 'rollback', version: VERSION, status: 'complete' });
    // It holds the installed bytes of every file the rollback changed.
    expect(set?.files.length).toBeGreaterThan(0);
    for (const entry of set?.files ?? []) {
      const rel = path.relative(home, entry.realPath);
      const was = installed.get(rel);
      expect(was?.kind).toBe('file');
      expect(entry.existed).toBe(true);
      expect(x.state.readBlob(set!, entry).equals((was as { data: Buffer }).data)).toBe(true);
    }

    const back = runCli(['rollback', '--yes', '--to', id as string], { home });
    expect(back.stderr).toBe('');
    expect(back.code).toBe(0);
    expectSameTree(snapshot(home, [STATE]), installed);
  });

  test('rolling back to the "rollback" set through the API restores the install too', () => {
    const home = homeWith({ '.bashrc': 'orig\n' });
    install(home, ['bash']);
    const installed = snapshot(home, [STATE]);
    const x = api(home);
    const { backupSet } = applyPlan(planRollback(x.he, x.state), x.state);
    expect(backupSet?.action).toBe('rollback');
    applyPlan(planRollback(x.he, x.state, backupSet?.id), x.state);
    expectSameTree(snapshot(home, [STATE]), installed);
  });

  describe('pruning keeps the newest KEEP_BACKUP_SETS sets', () => {
    const t0 = Date.parse('2026-03-01T12:00:00.000Z');
    beforeEach(() => {
      jest.useFakeTimers({ now: t0, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'clearImmediate', 'hrtime', 'performance'] });
    });
    afterEach(() => jest.useRealTimers());

    /** Makes n sets, alternately install and uninstall; `step` ms of clock between them. */
    function makeSets(home: string, n: number, step: number): string[] {
      const ids: string[] = [];
      for (let i = 0; i < n; i += 1) {
        jest.setSystemTime(t0 + i * step);
        const { backupSet } = i % 2 === 0 ? install(home, ['bash']) : uninstall(home);
        ids.push(backupSet?.id as string);
      }
      return ids;
    }

    test('sets made a second or more apart', () => {
      expect(KEEP_BACKUP_SETS).toBe(10);
      const home = homeWith({ '.bashrc': 'mine\n' });
      const ids = makeSets(home, 14, 1500);
      expect(new Set(ids).size).toBe(14);
      const kept = api(home).state.listSets().map((s) => s.id);
      expect(kept).toEqual(ids.slice(-KEEP_BACKUP_SETS));
      expect(fs.readdirSync(path.join(home, STATE, 'backups')).sort()).toEqual([...kept].sort());
    });

    test('more than ten sets within one second (a scripted run): the newest are kept, ids stay unique', () => {
      const home = homeWith({ '.bashrc': 'mine\n' });
      const ids = makeSets(home, 12, 0);
      expect(new Set(ids).size).toBe(12);
      const kept = api(home).state.listSets().map((s) => s.id);
      expect(kept).toContain(ids.at(-1));
      expect([...kept].sort()).toEqual(ids.slice(-KEEP_BACKUP_SETS).sort());
      // rollback without --to takes the latest install
      const x = api(home);
      expect(planRollback(x.he, x.state).rollbackFrom?.id).toBe(ids[10]);
    });
  });
});

describe('--dry-run', () => {
  /** Splits printDiff output into per-file unified diffs, keyed by the path they change. */
  function fileDiffs(out: string): Map<string, string> {
    const diffs = new Map<string, string>();
    const lines = out.split('\n');
    for (let i = 0; i < lines.length; i += 1) {
      if (!lines[i].startsWith('--- ') || !lines[i + 1]?.startsWith('+++ ')) continue;
      const name = lines[i + 1] === '+++ /dev/null' ? lines[i].slice(5) : lines[i + 1].slice(5);
      let j = i + 2;
      while (j < lines.length && /^([ +\-\\]|@@ )/.test(lines[j]) && !(lines[j].startsWith('--- ') && lines[j + 1]?.startsWith('+++ '))) j += 1;
      diffs.set(name, `${lines.slice(i, j).join('\n')}\n`);
      i = j - 1;
    }
    return diffs;
  }

  function patched(work: string, before: Buffer | null, diff: string): Buffer {
    const orig = path.join(work, 'orig');
    const out = path.join(work, 'out');
    const diffFile = path.join(work, 'diff');
    fs.writeFileSync(orig, before ?? Buffer.alloc(0));
    fs.writeFileSync(diffFile, diff);
    fs.rmSync(out, { force: true });
    const res = run('patch', ['-s', '-f', '--reject-file=-', '-o', out, orig, diffFile]);
    if (res.code !== 0) throw new Error(`patch failed: ${res.stdout}${res.stderr}\n${diff}`);
    return fs.readFileSync(out);
  }

  test('install --dry-run prints a unified diff that patch turns into exactly what install writes; nothing changes', () => {
    const home = homeWith({ '.bashrc': 'mine\nno newline at the end', '.profile': 'export A=1\r\n' });
    const before = snapshot(home);
    const res = runCli(['install', '--dry-run', '--shell', 'bash,sh'], { home });
    expect(res.code).toBe(0);
    expectSameTree(snapshot(home), before);
    expect(fs.existsSync(path.join(home, '.local'))).toBe(false);

    expect(res.stdout).toContain(`mkdir -m 700 ${path.join(home, '.ssh')}\n`);
    expect(res.stdout).toContain(`--- a${home}/.bashrc\n+++ b${home}/.bashrc\n@@ -1,2 +1,`);
    expect(res.stdout).toContain(`--- /dev/null\n+++ b${home}/.tmux.conf\n@@ -0,0 +1,`);
    expect(res.stdout).toMatch(new RegExp(`\\n\\+# >>> ssh-tmux-fix ${VERSION.replace(/\./g, '\\.')} sum=[0-9a-f]{12} \\+newline >>>\\n`));
    const diffs = fileDiffs(res.stdout);
    expect([...diffs.keys()].map((p) => path.relative(home, p)).sort()).toEqual(['.bashrc', '.profile', '.ssh/rc', '.ssh/ssh-tmux-fix/init.bash', '.ssh/ssh-tmux-fix/refresh.sh', '.ssh/ssh-tmux-fix/tmux.conf', '.tmux.conf']);

    const originals = new Map([...diffs.keys()].map((p) => [p, fs.existsSync(p) ? fs.readFileSync(p) : null]));
    expect(runCli(['install', '--yes', '--shell', 'bash,sh'], { home }).code).toBe(0);
    const work = path.join(path.dirname(home), 'patchwork');
    fs.mkdirSync(work);
    for (const [p, diff] of diffs) {
      expect({ path: p, bytes: patched(work, originals.get(p) ?? null, diff).toString('latin1') }).toEqual({ path: p, bytes: fs.readFileSync(p, 'latin1') });
    }
  });

  test('uninstall and rollback --dry-run print the removal and change nothing', () => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    install(home);
    const before = snapshot(home);
    const un = runCli(['uninstall', '--dry-run'], { home });
    expect(un.code).toBe(0);
    expect(un.stdout).toContain(`--- a${home}/.bashrc\n+++ b${home}/.bashrc\n`);
    expect(un.stdout).toContain(`--- a${home}/.tmux.conf\n+++ /dev/null\n`);
    expect(un.stdout).toMatch(/\n-# >>> ssh-tmux-fix /);
    expect(un.stdout).toContain(`rm -f ${home}/.ssh/ssh-tmux-fix/agent.sock\n`);
    const rb = runCli(['rollback', '--dry-run'], { home });
    expect(rb.code).toBe(0);
    expect(rb.stdout).toContain(`+++ /dev/null\n`);
    expectSameTree(snapshot(home), before);
  });
});

describe('CLI refusals and errors', () => {
  test.each([
    ['install', [] as string[]],
    ['uninstall', []],
    ['rollback', []],
  ])('%s with no terminal and no --yes exits 2 with the refusal; home unchanged', (cmd, extra) => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    if (cmd !== 'install') install(home);
    const before = snapshot(home);
    const res = runCli([cmd, ...extra], { home });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('refusing to change files without confirmation: there is no terminal to ask on.');
    expect(res.stderr).toContain('next step: run again with --yes, or with --dry-run');
    expectSameTree(snapshot(home), before);
  });

  test('--home pointing to a missing directory exits 1 and names the path', () => {
    const { root, home } = makeRoot();
    const missing = path.join(root, 'no such home');
    const res = runCli(['install', '--yes'], { home, homeArg: missing });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`the home directory ${missing} does not exist; nothing was changed`);
    expect(res.stderr).toContain('next step:');
    expect(fs.existsSync(missing)).toBe(false);
  });

  test('--home pointing to a regular file exits 1 and names the path', () => {
    const { root, home } = makeRoot();
    const file = path.join(root, 'a file');
    fs.writeFileSync(file, 'x');
    const res = runCli(['uninstall', '--yes'], { home, homeArg: file });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${file} is not a directory`);
  });

  test.each([
    [['--shell', 'tcsh'], /--shell: unknown shell tcsh; choose from bash, zsh, fish, sh, none/],
    [['--shell', 'bash,ksh'], /--shell: unknown shell ksh/],
    [['--only', 'bash,vim'], /--only: unknown part vim; choose from ssh-rc, sh, bash, zsh, fish, tmux/],
  ])('install %j exits 2; home unchanged', (args, message) => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    const before = snapshot(home);
    const res = runCli(['install', '--yes', ...args], { home });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
    expectSameTree(snapshot(home), before);
  });

  test('an unknown command or option exits 2 with a next step', () => {
    const { home } = makeRoot();
    const res = runCli(['install', '--yes', '--frobnicate'], { home });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/next step: run 'ssh-tmux-fix --help'/);
  });

  test('a target whose parent is a regular file (fails for root too) exits 1 naming the path and a next step; home unchanged', () => {
    const home = homeWith({ '.bashrc': 'mine\n', '.config': 'I am a file, not a directory\n' });
    const before = snapshot(home);
    const res = runCli(['install', '--yes', '--shell', 'fish'], { home });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(path.join(home, '.config', 'fish', 'conf.d', 'ssh-tmux-fix.fish'));
    expect(res.stderr).toContain('next step: a parent of this path is not a directory');
    expect(res.stderr).not.toMatch(/unexpected error/);
    expectSameTree(snapshot(home), before);
  });

  test('a state directory that cannot be created (~/.local is a file) exits 1 naming it; home unchanged', () => {
    const home = homeWith({ '.bashrc': 'mine\n', '.local': 'not a directory\n' });
    const before = snapshot(home);
    const res = runCli(['install', '--yes', '--shell', 'bash'], { home });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`cannot create the state directory ${path.join(home, STATE)}`);
    expect(res.stderr).toContain('next step:');
    expect(res.stderr).not.toMatch(/unexpected error/);
    expectSameTree(snapshot(home), before);
  });

  // As root, permission bits are ignored: the CLI is run as the user "nobody" instead, in a
  // home that user owns, so the read-only home directory really refuses the write.
  test(`a read-only home directory (chmod 555${isRoot ? ', run as nobody because root ignores modes' : ''}) exits 1 naming the path and a next step; home unchanged`, () => {
    const { root, home } = makeRoot();
    fs.writeFileSync(path.join(home, '.bashrc'), 'mine\n');
    // The parts that can be written: ~/.ssh and the state directory's parent.
    fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
    fs.mkdirSync(path.join(home, '.local', 'state'), { recursive: true, mode: 0o700 });
    const uid = isRoot ? 65534 : undefined;
    if (isRoot) {
      fs.chmodSync(root, 0o755);
      for (const p of [home, path.join(home, '.bashrc'), path.join(home, '.ssh'), path.join(home, '.local'), path.join(home, '.local', 'state')]) fs.chownSync(p, 65534, 65534);
    }
    fs.chmodSync(home, 0o555);
    try {
      const before = snapshot(home);
      const res = runCli(['install', '--yes', '--shell', 'bash'], { home, uid, gid: uid });
      // Refused before the first write: the message names the file and the directory at fault.
      expect(res.stderr).toMatch(new RegExp(`cannot write into the directory of ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\.(profile|bashrc|tmux\\.conf): EACCES`));
      expect(res.stderr).toContain('next step: check its permissions');
      expect(res.code).toBe(1);
      expectSameTree(snapshot(home, [STATE]), before);
    } finally {
      fs.chmodSync(home, 0o755);
    }
  });
});

describe('what install must not disturb', () => {
  (isRoot ? test : test.skip)('owner and group of a rewritten dotfile survive install and uninstall (root running with --home on a user\'s home)', () => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    const bashrc = path.join(home, '.bashrc');
    fs.chownSync(bashrc, 4242, 4343);
    install(home, ['bash']);
    expect(fs.statSync(bashrc)).toMatchObject({ uid: 4242, gid: 4343 });
    uninstall(home);
    expect(fs.statSync(bashrc)).toMatchObject({ uid: 4242, gid: 4343 });
  });

  test('.bash_profile that is a symlink to .profile gets one block, and uninstall gives both back', () => {
    const home = homeWith({ '.profile': 'export P=1\n' });
    fs.symlinkSync('.profile', path.join(home, '.bash_profile'));
    const before = snapshot(home);
    install(home, ['sh', 'bash']);
    const text = fs.readFileSync(path.join(home, '.profile'), 'latin1');
    expect(findBlocks(text, '.profile')).toHaveLength(1);
    expect(fs.lstatSync(path.join(home, '.bash_profile')).isSymbolicLink()).toBe(true);
    uninstall(home);
    expectSameTree(userTree(home, before), before);
  });

  test('the CLI end to end: install, install again (nothing to change), uninstall; home as before', () => {
    const home = homeWith({ '.bashrc': 'mine\n', '.zshrc': 'setopt autocd' });
    const before = snapshot(home);
    const first = runCli(['install', '--yes', '--shell', 'bash,zsh'], { home });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/Installed\. Backups of the files before: ~\/\.local\/state\/ssh-tmux-fix\/backups\/\d{8}T\d{6}Z-0001/);
    const zshrc = fs.readFileSync(path.join(home, '.zshrc'), 'latin1');
    expect(zshrc.startsWith('setopt autocd\n# >>> ssh-tmux-fix ')).toBe(true);
    expect(zshrc).toContain(render('zsh', api(home).ctx).split('\n')[0]);
    const second = runCli(['install', '--yes', '--shell', 'bash,zsh'], { home });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`ssh-tmux-fix ${VERSION} is already installed in ${home}; nothing to change.`);
    const un = runCli(['uninstall', '--yes'], { home });
    expect(un.code).toBe(0);
    expectSameTree(userTree(home, before), before);
  });
});

describe('~/.ssh/rc and /etc/ssh/sshrc (sshd(8), SSHRC: sshd runs only one of them)', () => {
  const rcOf = (home: string) => fs.readFileSync(path.join(home, '.ssh', 'rc'), 'latin1');

  test('a ~/.ssh/rc the install creates runs /etc/ssh/sshrc; again at a reinstall; uninstall deletes it', () => {
    const home = homeWith({ '.bashrc': 'mine\n' });
    const before = snapshot(home);
    install(home, ['ssh-rc']);
    expect(rcOf(home)).toContain('/bin/sh /etc/ssh/sshrc');
    // A reinstall (an upgrade) reads "the install created it" from the block's +created flag.
    const x = api(home);
    expect(planInstall(x.he, x.ctx, ['ssh-rc'], false).changes).toEqual([]);
    const text = rcOf(home);
    fs.writeFileSync(path.join(home, '.ssh', 'rc'), text.replace(/sum=\w+/, `sum=${'0'.repeat(12)}`).replace('/bin/sh /etc/ssh/sshrc', 'true'));
    install(home, ['ssh-rc'], true);
    expect(rcOf(home)).toBe(text);
    uninstall(home);
    expectSameTree(userTree(home, before), before);
  });

  test('the user\'s own ~/.ssh/rc already replaced /etc/ssh/sshrc: the block does not run it', () => {
    const home = homeWith({ '.ssh/rc': 'echo mine >/dev/null\n' });
    install(home, ['ssh-rc']);
    expect(rcOf(home)).not.toContain('/etc/ssh/sshrc');
    expect(rcOf(home)).toContain('xauth -q -');
  });
});
