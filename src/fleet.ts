import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { atomicLnOf, buildContext, TOOL, VERSION } from './context';
import { StfError } from './errors';
import { frameworkProbePaths } from './frameworks';
import { Plan, planInstall } from './plan';
import { InstallRecord } from './state';
import { SHELLS } from './shells';
import { HomeEnv, PARTS, Part, formerFiles, stateDirOf, targetsFor } from './targets';

/*
 * The controller's side of the Ansible playbook (docs/ansible), for hosts without Node. The
 * hosts only report what they hold (getent, stat, slurp) and receive files (file, copy); the
 * planning is the very planInstall of `install`, run here against a mirror of each home built
 * from those reports. So every byte placed is the byte `install` would have written.
 *
 * Inputs are Ansible's own registered results, passed as they are.
 */

/** One user's home on one host, as the playbook names it for become_user. */
interface UserHome {
  user: string;
  home: string;
  loginShell: string;
}

/** One `find` the playbook runs as `user`: names matching `patterns` in `paths`, `depth` deep. */
export interface FindSpec {
  user: string;
  paths: string[];
  patterns: string[];
  depth: number;
}

interface FoundEntry {
  path: string;
  islnk?: boolean;
  isdir?: boolean;
  mode?: string;
}

interface FindResult {
  item?: FindSpec;
  files?: FoundEntry[];
}

/** Results of loops over `subelements('files')` of the find results: [find result, entry]. */
interface EntryResult {
  item?: [FindResult, FoundEntry];
  stat?: { lnk_source?: string };
  content?: string;
  failed?: boolean;
  skipped?: boolean;
}

export interface HostReport {
  passwd: { item: string; ansible_facts?: { getent_passwd?: Record<string, string[]> } }[];
  /** `ln --version` on the host: it decides how the helper replaces the link. */
  ln?: string;
  /** slurp of /etc/shells: the shells installed there. */
  shells?: { content?: string };
  /** The two finds: the home's own entries, then below the directories found there. */
  top: FindResult[];
  deep: FindResult[];
  /** stat of each symlink found: where it leads. */
  links: EntryResult[];
  /** slurp of each file found. */
  slurp: EntryResult[];
}

export interface HostPlan {
  /** Missing directories, outermost first, with the mode `install` gives them. */
  dirs: { user: string; path: string; mode: string }[];
  /** Every file to write: `src` holds its new bytes on the controller; `mode` only for new files. */
  files: { user: string; path: string; src: string; mode?: string }[];
  warnings: string[];
}

function homesOf(passwd: HostReport['passwd']): UserHome[] {
  return passwd.map((r) => {
    const entry = r.ansible_facts?.getent_passwd?.[r.item];
    if (!entry || !entry[4]) throw new StfError(`no passwd entry for the user ${r.item} on this host\n  next step: check the names in users`);
    return { user: r.item, home: entry[4], loginShell: entry[5] ?? '' };
  });
}

/** Every path whose state decides what `install` does in a home: its target files and their dirs. */
function probePaths(u: UserHome): string[] {
  const he = defaultHomeEnv(u.home);
  const stateDir = stateDirOf(u.home, {});
  const files = [
    ...targetsFor(he, PARTS).map((t) => t.path),
    ...formerFiles(he),
    ...frameworkProbePaths(he),
    join(u.home, '.profile'),
    join(stateDir, 'installed.json'),
  ];
  const dirs = new Set<string>();
  for (const file of files) {
    for (let d = dirname(file); d.startsWith(`${u.home}/`); d = dirname(d)) dirs.add(d);
  }
  return [...new Set([...files, ...[...dirs].sort()])];
}

/**
 * What the playbook looks for, as each user: a find in the home itself (always there), then one
 * below the directories of the home that hold probed paths, for those found. `files` are the
 * probed files, for the slurp and stat filters.
 */
export function probe(report: Pick<HostReport, 'passwd'>): { top: FindSpec[]; deep: FindSpec[]; files: string[] } {
  const top: FindSpec[] = [];
  const deep: FindSpec[] = [];
  const files: string[] = [];
  for (const u of homesOf(report.passwd)) {
    const paths = probePaths(u);
    const rel = paths.map((p) => p.slice(u.home.length + 1).split('/'));
    const roots = [...new Set(rel.filter((r) => r.length > 1).map((r) => r[0]))].sort();
    top.push({ user: u.user, paths: [u.home], patterns: [...new Set(rel.map((r) => r[0]))].sort(), depth: 1 });
    deep.push({
      user: u.user,
      paths: roots.map((r) => join(u.home, r)),
      patterns: [...new Set(rel.filter((r) => r.length > 1).flatMap((r) => r.slice(1)))].sort(),
      depth: Math.max(...rel.map((r) => r.length - 1)),
    });
    files.push(...paths.filter((p) => !isDirProbe(u, p)));
  }
  return { top, deep, files };
}

/** Another user's home: no $XDG_CONFIG_HOME or $ZDOTDIR of ours applies (as with `install --home`). */
function defaultHomeEnv(home: string): HomeEnv {
  return { home, xdgConfigHome: join(home, '.config'), zdotdir: home };
}

/** The shells `install` would set up there: those listed in /etc/shells, the login shell, and sh. */
function shellsOn(report: HostReport, u: UserHome): string[] {
  const listed = Buffer.from(report.shells?.content ?? '', 'base64').toString('utf8').split('\n').map((l) => basename(l.trim()));
  return SHELLS.filter((s) => s.detected && (s.name === basename(u.loginShell) || listed.includes(s.name))).map((s) => s.name);
}

const octal = (mode: number): string => `0${mode.toString(8)}`;

/**
 * Plans `install` for every user of one host from its report. The new bytes of each file are
 * written into outDir (on the controller), for the playbook's copy tasks.
 */
export function planHost(report: HostReport, outDir: string, chooseParts: (detected: string[], he: HomeEnv) => Part[]): HostPlan {
  const atomicLn = atomicLnOf(report.ln ?? '');
  const result: HostPlan = { dirs: [], files: [], warnings: [] };
  const mirror = fs.mkdtempSync(join(tmpdir(), `${TOOL}-mirror-`));
  try {
    for (const u of homesOf(report.passwd)) {
      const root = join(mirror, u.user);
      const real = (p: string): string => (p.startsWith(`${root}/`) ? p.slice(root.length) : p);
      buildMirror(root, u, report);
      const he = defaultHomeEnv(join(root, u.home));
      let plan: Plan;
      try {
        plan = planInstall(he, buildContext(u.home, atomicLn), chooseParts(shellsOn(report, u), he), false);
        refuseReadOnly(plan);
      } catch (err) {
        if (err instanceof StfError) throw new StfError(`${u.user}: ${err.message.split(root).join('')}`, err.exitCode);
        throw err;
      }
      result.warnings.push(...plan.warnings.map((w) => `${u.user}: ${w.split(root).join('')}`));
      if (plan.changes.length === 0 && plan.createDirs.length === 0) continue;
      const addFile = (path: string, bytes: Buffer, mode: number | null) => {
        const src = join(outDir, String(result.files.length));
        fs.writeFileSync(src, bytes, { mode: 0o600 });
        result.files.push({ user: u.user, path, src, ...(mode === null ? {} : { mode: octal(mode) }) });
      };
      // The install record, as applyPlan writes it, so uninstall knows the directories it may remove.
      const stateDir = stateDirOf(u.home, {});
      const recordFile = join(root, stateDir, 'installed.json');
      const previous = readRecord(recordFile);
      const createdDirs = plan.createDirs.map((d) => real(d.path));
      const record: InstallRecord = {
        version: VERSION,
        files: [...new Set([...(previous?.files ?? []), ...plan.changes.map((c) => real(c.path))])],
        createdDirs: [...new Set([...(previous?.createdDirs ?? []), ...createdDirs])],
      };
      for (const d of plan.createDirs) result.dirs.push({ user: u.user, path: real(d.path), mode: octal(d.mode) });
      for (const c of plan.changes) addFile(real(c.realPath), c.after as Buffer, c.before === null ? c.mode : null);
      // Like StateDir.lock: parents as mkdir -p makes them, the state directory private.
      for (let d = join(root, stateDir), chain: string[] = []; ; d = dirname(d)) {
        if (fs.existsSync(d)) {
          for (const dir of chain.reverse()) result.dirs.push({ user: u.user, path: real(dir), mode: dir === join(root, stateDir) ? '0700' : '0755' });
          break;
        }
        chain.push(d);
      }
      addFile(stateDir + '/installed.json', Buffer.from(`${JSON.stringify(record, null, 2)}\n`), previous ? null : 0o600);
    }
  } finally {
    fs.rmSync(mirror, { recursive: true, force: true });
  }
  return result;
}

function readRecord(file: string): InstallRecord | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as InstallRecord;
  } catch {
    return null;
  }
}

/** What applyPlan's preflight refuses, refused here: copy would replace a read-only file. */
function refuseReadOnly(plan: Plan): void {
  for (const c of plan.changes) {
    if (c.before !== null && (c.mode & 0o200) === 0) {
      throw new StfError(
        `${c.path} is read-only (mode ${c.mode.toString(8)}); nothing was changed.\n` +
          `  next step: make it writable with 'chmod u+w ${c.realPath}', or leave this file out with --shell/--only`,
      );
    }
  }
}

/**
 * The home as the host reported it, under `root`: directories, files with their bytes and
 * modes, and each symlinked file as a link to its real file (so two names for one file stay one).
 */
function buildMirror(root: string, u: UserHome, report: HostReport): void {
  fs.mkdirSync(join(root, u.home), { recursive: true, mode: 0o700 });
  const ofUser = (r: EntryResult) => r.item?.[0]?.item?.user === u.user && !r.failed && !r.skipped;
  const contents = new Map<string, Buffer>();
  for (const r of report.slurp ?? []) if (ofUser(r) && r.content !== undefined) contents.set(r.item![1].path, Buffer.from(r.content, 'base64'));
  const linkTargets = new Map<string, string>();
  for (const r of report.links ?? []) {
    // A real path (os.path.realpath): absolute, no `..`, so it stays inside the mirror.
    const target = r.stat?.lnk_source;
    if (ofUser(r) && target && isAbsolute(target) && normalize(target) === target) linkTargets.set(r.item![1].path, target);
  }
  const probes = probePaths(u);
  const fileProbes = new Set(probes.filter((p) => !isDirProbe(u, p)));
  const found = [...(report.top ?? []), ...(report.deep ?? [])]
    .filter((r) => r.item?.user === u.user)
    .flatMap((r) => r.files ?? [])
    .filter((e) => probes.includes(e.path));
  // Directories first, outermost first, so files land in them.
  found.sort((a, b) => a.path.length - b.path.length);
  for (const entry of found) {
    const at = join(root, entry.path);
    const mode = entry.mode === undefined ? 0o644 : Number.parseInt(entry.mode, 8);
    if (!fileProbes.has(entry.path)) {
      // A directory, or a symlink to one: the same for the planner.
      fs.mkdirSync(at, { recursive: true });
      // Group and other bits decide the ~/.ssh warning; the owner's stay open to build the mirror.
      if (!entry.islnk) fs.chmodSync(at, mode | 0o700);
      continue;
    }
    if (entry.isdir) {
      fs.mkdirSync(at, { recursive: true }); // readFileState names it: not a regular file
      continue;
    }
    const bytes = contents.get(entry.path);
    const linkTarget = linkTargets.get(entry.path);
    fs.mkdirSync(dirname(at), { recursive: true });
    if (entry.islnk && linkTarget) {
      // A dangling link: the file is missing, and would be created where the link leads.
      const target = join(root, linkTarget);
      fs.symlinkSync(target, at);
      if (bytes !== undefined && !fs.existsSync(target)) {
        fs.mkdirSync(dirname(target), { recursive: true });
        fs.writeFileSync(target, bytes, { mode: 0o644 });
      }
    } else if (bytes !== undefined) {
      fs.writeFileSync(at, bytes);
      fs.chmodSync(at, mode);
    }
  }
}

function isDirProbe(u: UserHome, path: string): boolean {
  return probePaths(u).some((p) => p.startsWith(`${path}/`));
}
