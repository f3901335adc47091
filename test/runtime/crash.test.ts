/**
 * Crash safety for real: the installer is killed with SIGKILL at random moments, many
 * times. After each kill every dotfile must be wholly old or wholly new, and the next run
 * must undo the interrupted one and finish with a correct home.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join, relative } from 'node:path';

const CLI = join(__dirname, '..', '..', 'dist', 'cli.js');
const KILLS = 40;

type Snapshot = Map<string, string>;

/** Every file and symlink under home, except the tool's state directory. */
function snapshot(home: string): Snapshot {
  const out: Snapshot = new Map();
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir)) {
      const p = join(dir, name);
      const rel = relative(home, p);
      if (rel === '.local/state/ssh-tmux-fix' || rel === '.local/state' || rel === '.local') {
        if (rel !== '.local/state/ssh-tmux-fix') walk(p);
        continue;
      }
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out.set(rel, `link:${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir:${(st.mode & 0o777).toString(8)}`);
        walk(p);
      } else out.set(rel, `file:${(st.mode & 0o777).toString(8)}:${fs.readFileSync(p).toString('base64')}`);
    }
  };
  walk(home);
  return out;
}

function cli(home: string, ...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args, '--yes', '--home', home], {
    env: { PATH: process.env.PATH, HOME: home },
    encoding: 'utf8',
  });
}

test(`SIGKILL at ${KILLS} random moments: files are old or new, never partial; the next run recovers`, async () => {
  const home = fs.mkdtempSync(join(os.tmpdir(), 'stf-crash-'));
  try {
    fs.writeFileSync(join(home, '.profile'), 'export EDITOR=vi\n');
    fs.writeFileSync(join(home, '.bashrc'), 'alias ll="ls -l"', { mode: 0o600 });
    fs.mkdirSync(join(home, 'dotfiles'));
    fs.writeFileSync(join(home, 'dotfiles', 'tmux.conf'), 'set -g mouse on\r\n');
    fs.symlinkSync('dotfiles/tmux.conf', join(home, '.tmux.conf'));
    const before = snapshot(home);
    const started = Date.now();
    expect(cli(home, 'install').status).toBe(0);
    // The writes happen in the last part of a run: aim the kills around there.
    const runMs = Date.now() - started;
    const installed = snapshot(home);
    expect(cli(home, 'uninstall').status).toBe(0);
    expect(snapshot(home)).toEqual(before);

    let interrupted = 0;
    for (let i = 0; i < KILLS; i += 1) {
      const action = i % 2 === 0 ? 'install' : 'uninstall';
      const child = spawn(process.execPath, [CLI, action, '--yes', '--home', home], {
        env: { PATH: process.env.PATH, HOME: home },
        stdio: 'ignore',
      });
      const exited = new Promise((r) => child.on('exit', r));
      await new Promise((r) => setTimeout(r, runMs * (0.75 + 0.3 * Math.random())));
      child.kill('SIGKILL');
      await exited;
      const now = snapshot(home);
      for (const path of new Set([...before.keys(), ...installed.keys(), ...now.keys()])) {
        // A write cut short leaves its temporary file; the next run must remove it (checked below).
        if (path.endsWith('.ssh-tmux-fix.tmp')) continue;
        const value = now.get(path);
        if (value !== before.get(path) && value !== installed.get(path)) {
          throw new Error(`after kill ${i} (${action}), ${path} is neither old nor new: ${value}`);
        }
      }
      // A set without a manifest was killed before its journal existed: nothing changed yet.
      const backups = join(home, '.local/state/ssh-tmux-fix/backups');
      const journals = fs.readdirSync(backups).sort().map((id) => join(backups, id, 'manifest.json')).filter((m) => fs.existsSync(m));
      if (JSON.parse(fs.readFileSync(journals.at(-1)!, 'utf8')).status === 'applying') interrupted += 1;
    }
    console.log(`${KILLS} kills over a ${runMs} ms run, ${interrupted} of them between the journal and the end of the run`);

    const install = cli(home, 'install');
    expect(install.status).toBe(0);
    expect(snapshot(home)).toEqual(installed);
    expect(cli(home, 'uninstall').status).toBe(0);
    expect(snapshot(home)).toEqual(before);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
