/*
 * The Ansible example of docs/dotfile-managers.md, docs/ansible/ssh-tmux-fix.yml, run for real
 * with ansible-playbook against localhost: root becomes each throwaway user (become_method su,
 * which needs no password for root) and installs the local build in that user's own home.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_DIR, RunResult, TestUser, appDir, base, createUser, describeE2E } from './harness';

const PLAYBOOK = path.join(REPO_DIR, 'docs', 'ansible', 'ssh-tmux-fix.yml');
const INSTALL_TASK = 'Install ssh-tmux-fix for each user';
const STATUS_TASK = 'Check that ssh-tmux-fix is installed for each user (status --json)';

interface Recap {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
}

/**
 * A throwaway HOME and cwd for root: no ~/.ansible.cfg or ./ansible.cfg of the machine is
 * read, Ansible's ~/.ansible stays out of /root, and a playbook that forgot become_user would
 * write there, not into root's dotfiles.
 */
function ansibleEnv(): { cwd: string; env: NodeJS.ProcessEnv } {
  const home = path.join(base(), 'ansible-root-home');
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: home,
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_STDOUT_CALLBACK: 'default',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
    ANSIBLE_PYTHON_INTERPRETER: 'auto_silent',
    // Root's remote tmp: Ansible takes ~ from the passwd entry (echo ~root), not from $HOME.
    ANSIBLE_REMOTE_TMP: path.join(home, '.ansible', 'tmp'),
  };
  return { cwd: home, env };
}

function runPlaybook(users: TestUser[], stf: string): Promise<RunResult> {
  const extraVars = JSON.stringify({ users: users.map((u) => u.name), stf });
  const args = ['-i', 'localhost,', '-c', 'local', '--become-method', 'su', PLAYBOOK, '-e', extraVars];
  return new Promise((resolve, reject) => {
    const child = spawn('ansible-playbook', args, { ...ansibleEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The PLAY RECAP line of the one host, localhost. */
function recap(r: RunResult): Recap {
  const line = r.stdout.split('\n').find((l) => /^localhost\s+:\s+ok=/.test(l));
  if (!line) throw new Error(`no PLAY RECAP line for localhost in:\n${show(r)}`);
  const count = (key: string) => Number(new RegExp(`\\b${key}=(\\d+)`).exec(line)![1]);
  return { ok: count('ok'), changed: count('changed'), failed: count('failed'), unreachable: count('unreachable') };
}

/** Per loop item, what the task reported: 'changed', 'ok' or 'failed'. */
function itemResults(r: RunResult, task: string): Record<string, string> {
  const sections = r.stdout.split(/^TASK \[/m);
  const section = sections.find((s) => s.startsWith(`${task}]`));
  if (!section) throw new Error(`task "${task}" did not run:\n${show(r)}`);
  const results: Record<string, string> = {};
  for (const m of section.matchAll(/^(changed|ok|failed): \[localhost\] (?:=> )?\(item=([^)]+)\)/gm)) {
    results[m[2]] = m[1];
  }
  return results;
}

/** The exit code, with the whole output in the failure message when it is not the expected one. */
function expectExit(r: RunResult, code: number): void {
  if (r.code !== code) throw new Error(`ansible-playbook: expected exit ${code}, got ${show(r)}`);
}

function show(r: RunResult): string {
  return `exit ${r.code}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;
}

/** Every path under dir whose owner is not uid:gid. */
function foreignOwned(dir: string, uid: number, gid: number): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const st = fs.lstatSync(path.join(dir, entry));
    if (st.uid !== uid || st.gid !== gid) found.push(`${entry} (${st.uid}:${st.gid})`);
  }
  return found;
}

describe('Ansible: docs/dotfile-managers.md', () => {
  test('shows docs/ansible/ssh-tmux-fix.yml as it is', () => {
    const doc = fs.readFileSync(path.join(REPO_DIR, 'docs', 'dotfile-managers.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Ansible'));
    expect(/```yaml\n([\s\S]*?)```/.exec(section)?.[1]).toBe(fs.readFileSync(PLAYBOOK, 'utf8'));
  });
});

describeE2E('Ansible: docs/ansible/ssh-tmux-fix.yml', () => {
  let stf: string;

  beforeAll(() => {
    // CI installs ansible-core (.ci/run); a missing one is a broken setup, not a reason to skip.
    const version = spawnSync('ansible-playbook', ['--version'], { ...ansibleEnv(), encoding: 'utf8' });
    if (version.status !== 0) {
      throw new Error(
        `ansible-playbook is not available (${version.error ?? version.stderr}): ` +
          'install ansible-core (apt-get install --no-install-recommends ansible-core), as .ci/run does',
      );
    }
    stf = `${process.execPath} ${path.join(appDir(), 'dist', 'cli.js')}`;
  });

  test("installs in each user's own home as that user, reports changed, then nothing changes", async () => {
    const users = [createUser('bash'), createUser('zsh')];

    const first = await runPlaybook(users, stf);
    expectExit(first, 0);
    expect(recap(first)).toMatchObject({ failed: 0, unreachable: 0 });
    expect(recap(first).changed).toBeGreaterThanOrEqual(1);
    const installed = Object.fromEntries(users.map((u) => [u.name, 'changed']));
    expect(itemResults(first, INSTALL_TASK)).toEqual(installed);
    const statusOk = Object.fromEntries(users.map((u) => [u.name, 'ok']));
    expect(itemResults(first, STATUS_TASK)).toEqual(statusOk);

    for (const user of users) {
      const rc = path.join(user.home, '.ssh', 'rc');
      expect(fs.readFileSync(rc, 'utf8')).toMatch(/^# >>> ssh-tmux-fix \S+ sum=[0-9a-f]{12}.*>>>$[\s\S]*^# <<< ssh-tmux-fix <<<$/m);
      expect(fs.statSync(rc)).toMatchObject({ uid: user.uid, gid: user.gid });
      // Nothing the play wrote in the home belongs to root (or anyone else).
      expect(foreignOwned(user.home, user.uid, user.gid)).toEqual([]);
    }

    const second = await runPlaybook(users, stf);
    expectExit(second, 0);
    expect(recap(second)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    expect(itemResults(second, INSTALL_TASK)).toEqual(statusOk);
    expect(itemResults(second, STATUS_TASK)).toEqual(statusOk);
  });

  test('the status check fails the play when the tool is not installed, whatever install said', async () => {
    const user = createUser('bash');
    // A stand-in whose install claims success and changes nothing; status is the real one.
    const fake = path.join(base(), 'fake-stf.sh');
    fs.writeFileSync(
      fake,
      `#!/bin/sh\nif [ "$1" = install ]; then echo "is already installed in $HOME; nothing to change."; exit 0; fi\n` +
        `exec ${stf} "$@"\n`,
      { mode: 0o755 },
    );

    const run = await runPlaybook([user], fake);
    expectExit(run, 2);
    expect(recap(run)).toMatchObject({ changed: 0, failed: 1 });
    expect(itemResults(run, INSTALL_TASK)).toEqual({ [user.name]: 'ok' });
    expect(itemResults(run, STATUS_TASK)).toEqual({ [user.name]: 'failed' });
    expect(run.stdout).toContain('not installed in');
  });
});
