/*
 * The controller's side of docs/ansible/ssh-tmux-fix-system.yml (src/fleet-system.ts): from the
 * find, stat and slurp results of this machine's real system paths (read only, built here the
 * way those modules report them), the plan holds exactly the directories and bytes
 * `install --system` plans here. The playbook itself runs in test/e2e/ansible.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { detectAtomicLn } from '../../src/context';
import { installedDisplayIn } from '../../src/doctor';
import { SystemReport, planSystemHost, probeSystem } from '../../src/fleet-system';
import { planInstall } from '../../src/plan';
import { SYSTEM_PARTS, buildSystemContext, systemPaths, systemTargets } from '../../src/system';
import { homeEnv } from '../../src/targets';

/** What the play registers on this machine: one find (follow: false), stat of links, slurp of files. */
function reportOfThisMachine(): SystemReport {
  const probe = probeSystem();
  const files: { path: string; mode: string; isdir: boolean; islnk: boolean }[] = [];
  for (const dir of probe.find.paths) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue; // find skips a path that does not exist
    }
    for (const name of names.filter((n) => probe.find.patterns.includes(n))) {
      const st = fs.lstatSync(path.join(dir, name));
      files.push({ path: path.join(dir, name), mode: `0${(st.mode & 0o7777).toString(8)}`, isdir: st.isDirectory(), islnk: st.isSymbolicLink() });
    }
  }
  return {
    ln: spawnSync('ln', ['--version'], { encoding: 'utf8' }).stdout,
    shells: { content: fs.readFileSync('/etc/shells').toString('base64') },
    find: { files },
    links: files.filter((f) => f.islnk).map((f) => ({ item: f, stat: { lnk_source: fs.realpathSync(f.path) } })),
    slurp: files
      .filter((f) => !f.isdir && probe.files.includes(f.path))
      .map((f) => ({ item: f, content: fs.readFileSync(f.path).toString('base64') })),
  };
}

test('plans exactly what install --system plans on this machine: the same directories, files, bytes and new modes', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'stf-fleet-system-'));
  try {
    const parts = SYSTEM_PARTS.filter((p) => p !== 'fish' || fs.readFileSync('/etc/shells', 'utf8').includes('fish'));
    const plan = planSystemHost(reportOfThisMachine(), out, () => [...parts]);
    const paths = systemPaths({});
    const display = installedDisplayIn(path.join(paths.libDir, 'refresh.sh')) ?? true;
    const direct = planInstall(homeEnv('/', {}), buildSystemContext(paths, detectAtomicLn(), display), parts, false, systemTargets(paths, parts));
    const record = path.join(paths.stateDir, 'installed.json');
    expect(plan.files.filter((f) => f.path !== record).map((f) => [f.path, fs.readFileSync(f.src).toString('latin1'), f.mode])).toEqual(
      direct.changes.map((c) => [c.realPath, (c.after as Buffer).toString('latin1'), c.before === null ? `0${c.mode.toString(8)}` : undefined]),
    );
    expect(plan.dirs.filter((d) => !d.path.startsWith(paths.stateDir) && !paths.stateDir.startsWith(`${d.path}/`))).toEqual(
      direct.createDirs.map((d) => ({ path: d.path, mode: `0${d.mode.toString(8)}` })),
    );
    if (direct.changes.length > 0) {
      // The record uninstall --system reads, as applyPlan writes it.
      const written = JSON.parse(fs.readFileSync(plan.files.find((f) => f.path === record)!.src, 'utf8'));
      expect(written.files).toEqual(expect.arrayContaining(direct.changes.map((c) => c.path)));
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
