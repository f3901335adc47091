/**
 * Crash safety for real: the installer is killed with SIGKILL at random moments, many
 * times. After each kill every dotfile must be wholly old or wholly new, and the next run
 * must undo the interrupted one and finish with a correct home.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { CLI, Tree, cliEnv, dropStateParents, makeRoot, removeAllRoots, runCli, sameEntry, snapshot, stateExcludes, treeDiff } from '../unit/helpers';

const KILLS = 40;

/** Every entry under home, except the tool's state directory (and the parents it made). */
function homeTree(home: string, before?: Tree): Tree {
  const tree = snapshot(home, stateExcludes(''));
  return before ? dropStateParents(tree, before, '') : tree;
}

const cli = (home: string, ...args: string[]) => runCli([...args, '--yes'], { home });

afterAll(removeAllRoots);

test(`SIGKILL at ${KILLS} random moments: files are old or new, never partial; the next run recovers`, async () => {
  const { home } = makeRoot();
  fs.writeFileSync(join(home, '.profile'), 'export EDITOR=vi\n');
  fs.writeFileSync(join(home, '.bashrc'), 'alias ll="ls -l"', { mode: 0o600 });
  fs.mkdirSync(join(home, 'dotfiles'));
  fs.writeFileSync(join(home, 'dotfiles', 'tmux.conf'), 'set -g mouse on\r\n');
  fs.symlinkSync('dotfiles/tmux.conf', join(home, '.tmux.conf'));
  const before = homeTree(home);
  const started = Date.now();
  expect(cli(home, 'install').code).toBe(0);
  // The writes happen in the last part of a run: aim the kills around there.
  const runMs = Date.now() - started;
  const installed = homeTree(home, before);
  expect(cli(home, 'uninstall').code).toBe(0);
  expect(treeDiff(homeTree(home, before), before)).toEqual([]);

  let interrupted = 0;
  for (let i = 0; i < KILLS; i += 1) {
    const action = i % 2 === 0 ? 'install' : 'uninstall';
    const child = spawn(process.execPath, [CLI, action, '--yes', '--home', home], { env: cliEnv(home), stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    await new Promise((r) => setTimeout(r, runMs * (0.75 + 0.3 * Math.random())));
    child.kill('SIGKILL');
    await exited;
    const now = homeTree(home, before);
    for (const path of new Set([...before.keys(), ...installed.keys(), ...now.keys()])) {
      // A write cut short leaves its temporary file; the next run must remove it (checked below).
      if (path.endsWith('.ssh-tmux-fix.tmp')) continue;
      const value = now.get(path);
      if (!sameEntry(value, before.get(path)) && !sameEntry(value, installed.get(path))) {
        throw new Error(`after kill ${i} (${action}), ${path} is neither old nor new: ${JSON.stringify(value)}`);
      }
    }
    // A set without a manifest was killed before its journal existed: nothing changed yet.
    const backups = join(home, '.local/state/ssh-tmux-fix/backups');
    const journals = fs.readdirSync(backups).sort().map((id) => join(backups, id, 'manifest.json')).filter((m) => fs.existsSync(m));
    if (JSON.parse(fs.readFileSync(journals.at(-1)!, 'utf8')).status === 'applying') interrupted += 1;
  }
  console.log(`${KILLS} kills over a ${runMs} ms run, ${interrupted} of them between the journal and the end of the run`);

  const install = cli(home, 'install');
  // On failure, its stderr says what the recovery tripped on.
  expect(install.code === 0 ? 'exit 0' : `exit ${install.code}: ${install.stderr}`).toBe('exit 0');
  expect(treeDiff(homeTree(home, before), installed)).toEqual([]);
  expect(cli(home, 'uninstall').code).toBe(0);
  expect(treeDiff(homeTree(home, before), before)).toEqual([]);
});

// The moment the random kills above hit only under load: every change of an uninstall made
// (its files and the directories it created at install removed, the record dropped), and
// the journal not yet marked complete. The next run must make the directories again before
// it puts their files back, and give back the record that lets a later uninstall remove them.
test('an uninstall killed just before its end is undone whole: directories, files and record', () => {
  const { home } = makeRoot();
  fs.writeFileSync(join(home, '.profile'), 'export EDITOR=vi\n');
  const before = homeTree(home);
  expect(cli(home, 'install', '--shell', 'bash,zsh,fish').code).toBe(0);
  const installed = homeTree(home, before);
  expect([...installed.keys()]).toContain('.config/fish/conf.d');
  expect(cli(home, 'uninstall').code).toBe(0);
  expect(treeDiff(homeTree(home, before), before)).toEqual([]);

  const backups = join(home, '.local/state/ssh-tmux-fix/backups');
  const manifest = join(backups, fs.readdirSync(backups).sort().at(-1)!, 'manifest.json');
  const journal = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  expect(journal.action).toBe('uninstall');
  fs.writeFileSync(manifest, JSON.stringify({ ...journal, status: 'applying' }));

  const recovered = cli(home, 'install');
  expect(recovered.code === 0 ? 'exit 0' : `exit ${recovered.code}: ${recovered.stderr}`).toBe('exit 0');
  expect(recovered.stderr).toContain('an interrupted uninstall was undone first');
  expect(treeDiff(homeTree(home, before), installed)).toEqual([]);
  expect(cli(home, 'uninstall').code).toBe(0);
  expect(treeDiff(homeTree(home, before), before)).toEqual([]);
});
