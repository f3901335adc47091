import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { atomicLnOf, TOOL, VERSION } from './context';
import { installedDisplayIn } from './doctor';
import { StfError } from './errors';
import { Plan, planInstall } from './plan';
import { InstallRecord } from './state';
import { SHELLS } from './shells';
import { SYSTEM_BASHRC_NAMES, SYSTEM_PARTS, SYSTEM_ZSHRC_NAMES, SystemPaths, buildSystemContext, systemPaths, systemTargets } from './system';
import { HomeEnv, Part } from './targets';

/*
 * The controller's side of docs/ansible/ssh-tmux-fix-system.yml: `install --system` on hosts
 * without Node. The host reports the system paths as root (one find over their directories, a
 * stat of each symlink found, a slurp of each file found); the controller runs the very
 * planInstall of `install --system` against a mirror of them and hands back each directory and
 * file's new bytes, for Ansible's file and copy modules. The install record goes to
 * /var/lib/ssh-tmux-fix as applyPlan writes it, so `uninstall --system` there knows what the
 * play created.
 */

/** One entry of the find result (follow: false): lstat fields. */
interface FoundEntry {
  path: string;
  mode?: string;
  isdir?: boolean;
  islnk?: boolean;
}

/** A result of a loop over found entries (the stat of links, the slurp of files). */
interface EntryResult {
  item?: FoundEntry;
  stat?: { lnk_source?: string };
  content?: string;
  failed?: boolean;
  skipped?: boolean;
}

export interface SystemReport {
  ln?: string;
  shells?: { content?: string };
  find: { files?: FoundEntry[] };
  links: EntryResult[];
  slurp: EntryResult[];
}

export interface SystemHostPlan {
  dirs: { path: string; mode: string }[];
  files: { path: string; src: string; mode?: string }[];
  warnings: string[];
}

export interface SystemProbe {
  /** One find, not recursive: these directories, these names in them. */
  find: { paths: string[]; patterns: string[] };
  /** The files to read (slurp) when found. */
  files: string[];
  /** Every path whose state decides the install: the files and their directories. */
  paths: string[];
}

/** Every path whose state decides what `install --system` does: each name a file may have, the record, their directories. */
export function probeSystem(): SystemProbe {
  const real = systemPaths({});
  // Both names of the system bashrc and zshrc: which one the host has decides the target.
  const files = [
    ...new Set([
      ...systemTargets(real, SYSTEM_PARTS).map((t) => t.path),
      ...[...SYSTEM_BASHRC_NAMES, ...SYSTEM_ZSHRC_NAMES].map((n) => `/${n}`),
      join(real.stateDir, 'installed.json'),
    ]),
  ];
  const dirs = new Set<string>();
  for (const f of files) for (let d = dirname(f); d !== '/'; d = dirname(d)) dirs.add(d);
  const paths = [...files, ...[...dirs].sort()];
  return {
    find: { paths: ['/', ...[...dirs].sort()], patterns: [...new Set(paths.map((p) => basename(p)))].sort() },
    files,
    paths,
  };
}

const octal = (mode: number): string => `0${mode.toString(8)}`;

/** The shells listed in the host's /etc/shells (sh is always set up). */
function shellsListed(report: SystemReport): string[] {
  const listed = Buffer.from(report.shells?.content ?? '', 'base64').toString('utf8').split('\n').map((l) => basename(l.trim()));
  return SHELLS.filter((s) => s.detected && listed.includes(s.name)).map((s) => s.name);
}

/** The system paths as the host reported them, under `root`: directories, files with bytes and modes, symlinks as links. */
function buildMirror(root: string, report: SystemReport): void {
  const probe = probeSystem();
  const ok = (r: EntryResult) => r.item?.path !== undefined && !r.failed && !r.skipped;
  const contents = new Map<string, Buffer>();
  for (const r of report.slurp ?? []) if (ok(r) && r.content !== undefined) contents.set(r.item!.path, Buffer.from(r.content, 'base64'));
  const linkTargets = new Map<string, string>();
  for (const r of report.links ?? []) {
    // A real path (os.path.realpath): absolute, no `..`, so it stays inside the mirror.
    const target = r.stat?.lnk_source;
    if (ok(r) && target && isAbsolute(target) && normalize(target) === target) linkTargets.set(r.item!.path, target);
  }
  // The find also matches names of ours in the other directories: only the probed paths count.
  const found = (report.find?.files ?? []).filter((e) => probe.paths.includes(e.path));
  // Directories first, outermost first, so files land in them.
  found.sort((a, b) => a.path.length - b.path.length);
  for (const entry of found) {
    const at = join(root, entry.path);
    const mode = entry.mode === undefined ? 0o644 : Number.parseInt(entry.mode, 8);
    if (!probe.files.includes(entry.path) || entry.isdir) {
      // A directory, or a symlink to one: the same for the planner (a directory where a file
      // is expected stays one: readFileState names it not a regular file).
      fs.mkdirSync(at, { recursive: true });
      continue;
    }
    fs.mkdirSync(dirname(at), { recursive: true });
    const bytes = contents.get(entry.path);
    const target = linkTargets.get(entry.path);
    if (entry.islnk && target) {
      // A symlinked /etc file stays one: the bytes go where it leads.
      fs.symlinkSync(join(root, target), at);
      if (bytes !== undefined && !fs.existsSync(join(root, target))) {
        fs.mkdirSync(dirname(join(root, target)), { recursive: true });
        fs.writeFileSync(join(root, target), bytes, { mode: 0o644 });
      }
    } else if (bytes !== undefined) {
      fs.writeFileSync(at, bytes);
      fs.chmodSync(at, mode);
    }
  }
}

/** Plans `install --system` for one host from its report; new bytes go into outDir on the controller. */
export function planSystemHost(report: SystemReport, outDir: string, chooseParts: (detected: string[], he: HomeEnv) => Part[]): SystemHostPlan {
  const result: SystemHostPlan = { dirs: [], files: [], warnings: [] };
  const mirror = fs.mkdtempSync(join(tmpdir(), `${TOOL}-mirror-`));
  const real = (p: string): string => (p.startsWith(`${mirror}/`) ? p.slice(mirror.length) : p);
  try {
    buildMirror(mirror, report);
    const paths = systemPaths({ SSH_TMUX_FIX_ROOT: mirror });
    // The host's own paths, for the rendered parts (the bashrc and zshrc names as the host has them).
    const hostPaths = Object.fromEntries(Object.entries(paths).map(([k, v]) => [k, k === 'root' ? '' : real(v)])) as unknown as SystemPaths;
    // The "home" the plan is made against: the mirror, so nothing of the controller is read.
    const he: HomeEnv = { home: mirror, xdgConfigHome: join(mirror, '.config'), zdotdir: mirror };
    const parts = chooseParts(shellsListed(report), he).filter((p) => SYSTEM_PARTS.includes(p));
    if (parts.length === 0) throw new StfError(`--only: none of these parts has a system-wide form; choose from ${SYSTEM_PARTS.join(', ')}`, 2);
    // An upgrade keeps the DISPLAY choice of the helper the host has, as install --system does.
    const display = installedDisplayIn(join(paths.libDir, 'refresh.sh')) ?? true;
    const ctx = buildSystemContext(hostPaths, atomicLnOf(report.ln ?? ''), display);
    let plan: Plan;
    try {
      plan = planInstall(he, ctx, parts, false, systemTargets(paths, parts));
      refuseReadOnly(plan, real);
    } catch (err) {
      if (err instanceof StfError) throw new StfError(err.message.split(mirror).join(''), err.exitCode);
      throw err;
    }
    result.warnings.push(...plan.warnings.map((w) => w.split(mirror).join('')));
    if (plan.changes.length === 0 && plan.createDirs.length === 0) return result;
    const addFile = (path: string, bytes: Buffer, mode: number | null) => {
      const src = join(outDir, String(result.files.length));
      fs.writeFileSync(src, bytes, { mode: 0o600 });
      result.files.push({ path, src, ...(mode === null ? {} : { mode: octal(mode) }) });
    };
    for (const d of plan.createDirs) result.dirs.push({ path: real(d.path), mode: octal(d.mode) });
    for (const c of plan.changes) addFile(real(c.realPath), c.after as Buffer, c.before === null ? c.mode : null);
    // The record, as applyPlan writes it; its directory as StateDir.lock makes it.
    const recordFile = join(paths.stateDir, 'installed.json');
    let previous: InstallRecord | null = null;
    try {
      previous = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as InstallRecord;
    } catch {
      // first install
    }
    const record: InstallRecord = {
      version: VERSION,
      files: [...new Set([...(previous?.files ?? []), ...plan.changes.map((c) => real(c.path))])],
      createdDirs: [...new Set([...(previous?.createdDirs ?? []), ...plan.createDirs.map((d) => real(d.path))])],
    };
    const chain: string[] = [];
    for (let d = paths.stateDir; !fs.existsSync(d); d = dirname(d)) chain.unshift(d);
    for (const d of chain) result.dirs.push({ path: real(d), mode: d === paths.stateDir ? '0700' : '0755' });
    addFile(real(recordFile), Buffer.from(`${JSON.stringify(record, null, 2)}\n`), previous ? null : 0o600);
  } finally {
    fs.rmSync(mirror, { recursive: true, force: true });
  }
  return result;
}

/** What applyPlan's preflight refuses, refused here: copy would replace a read-only file. */
function refuseReadOnly(plan: Plan, real: (p: string) => string): void {
  for (const c of plan.changes) {
    if (c.before !== null && (c.mode & 0o200) === 0) {
      throw new StfError(
        `${real(c.path)} is read-only (mode ${c.mode.toString(8)}); nothing was changed.\n` +
          `  next step: make it writable with 'chmod u+w ${real(c.realPath)}', or leave this file out with --shell/--only`,
      );
    }
  }
}
