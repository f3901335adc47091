/*
 * Exact snapshots of a directory tree (bytes, modes, symlink targets, and owners on request),
 * for every suite: unit homes, the crash test, the e2e homes of throwaway users.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `owner` ("uid:gid") is recorded only when the snapshot is asked for owners. */
export type Entry = (
  | { kind: 'file'; mode: number; data: Buffer }
  | { kind: 'dir'; mode: number }
  | { kind: 'link'; target: string }
  | { kind: 'other'; mode: number }
) & { owner?: string };

export type Tree = Map<string, Entry>;

/**
 * Every entry under `root` (not following symlinks), keyed by its path relative to root.
 * Absolute symlink targets inside root are written as <root>/..., so trees of two roots compare.
 * `exclude` drops those relative paths and everything below them; `owners` records uid:gid too.
 */
export function snapshot(root: string, exclude: string[] = [], opts: { owners?: boolean } = {}): Tree {
  const tree: Tree = new Map();
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const rel = path.relative(root, abs);
      if (exclude.some((e) => rel === e || rel.startsWith(`${e}/`))) continue;
      const st = fs.lstatSync(abs);
      const owner = opts.owners ? { owner: `${st.uid}:${st.gid}` } : {};
      if (st.isSymbolicLink()) {
        const target = fs.readlinkSync(abs);
        tree.set(rel, { kind: 'link', target: target.startsWith(`${root}/`) ? `<root>/${target.slice(root.length + 1)}` : target, ...owner });
      } else if (st.isDirectory()) {
        tree.set(rel, { kind: 'dir', mode: st.mode & 0o7777, ...owner });
        walk(abs);
      } else if (st.isFile()) {
        tree.set(rel, { kind: 'file', mode: st.mode & 0o7777, data: fs.readFileSync(abs), ...owner });
      } else {
        tree.set(rel, { kind: 'other', mode: st.mode & 0o7777, ...owner });
      }
    }
  };
  walk(root);
  return tree;
}

function describeEntry(e: Entry | undefined): string {
  if (!e) return 'absent';
  switch (e.kind) {
    case 'file':
      return `file mode ${e.mode.toString(8)} ${e.data.length} bytes`;
    case 'dir':
      return `dir mode ${e.mode.toString(8)}`;
    case 'link':
      return `symlink -> ${e.target}`;
    default:
      return `special mode ${e.mode.toString(8)}`;
  }
}

function firstDifference(a: Buffer, b: Buffer): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i += 1;
  const show = (buf: Buffer) => JSON.stringify(buf.subarray(Math.max(0, i - 20), i + 40).toString('latin1'));
  return `first difference at byte ${i}: ${show(a)} vs ${show(b)}`;
}

/** Human-readable differences between two trees; [] when they are identical. */
export function treeDiff(actual: Tree, expected: Tree): string[] {
  const out: string[] = [];
  const keys = [...new Set([...actual.keys(), ...expected.keys()])].sort();
  for (const k of keys) {
    const a = actual.get(k);
    const e = expected.get(k);
    if (!a || !e || a.kind !== e.kind) {
      out.push(`${k}: actual ${describeEntry(a)}, expected ${describeEntry(e)}`);
      continue;
    }
    if (a.kind === 'link' && e.kind === 'link' && a.target !== e.target) out.push(`${k}: ${describeEntry(a)}, expected ${describeEntry(e)}`);
    if ((a.kind === 'dir' || a.kind === 'file' || a.kind === 'other') && a.mode !== (e as { mode: number }).mode) {
      out.push(`${k}: mode ${a.mode.toString(8)}, expected ${(e as { mode: number }).mode.toString(8)}`);
    }
    if (a.owner !== e.owner) out.push(`${k}: owner ${a.owner}, expected ${e.owner}`);
    if (a.kind === 'file' && e.kind === 'file' && !a.data.equals(e.data)) {
      out.push(`${k}: ${a.data.length} bytes, expected ${e.data.length}; ${firstDifference(a.data, e.data)}`);
    }
  }
  return out;
}

/** Paths the tool may leave behind in a home: its state directory and the parents lock() made. */
export function stateExcludes(homeRel: string): string[] {
  const p = (s: string) => (homeRel ? path.join(homeRel, s) : s);
  return [p('.local/state/ssh-tmux-fix')];
}

/**
 * Removes `.local/state` and `.local` from a tree when they are empty directories there and
 * absent from `before`: lock() creates them with the state directory.
 */
export function dropStateParents(tree: Tree, before: Tree, homeRel: string): Tree {
  const out = new Map(tree);
  for (const rel of ['.local/state', '.local'].map((s) => (homeRel ? path.join(homeRel, s) : s))) {
    const hasChildren = [...out.keys()].some((k) => k.startsWith(`${rel}/`));
    if (!before.has(rel) && out.get(rel)?.kind === 'dir' && !hasChildren) out.delete(rel);
  }
  return out;
}


/** Whether two entries (either may be absent) are the same in every recorded field. */
export function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  if (!a || !b) return a === b;
  return treeDiff(new Map([['', a]]), new Map([['', b]])).length === 0;
}
