/**
 * Docs cannot rot: every `ssh-tmux-fix …` command in a ```sh block of README.md and docs/ is
 * run against a throwaway home. Also the terminal manners: colour only on a terminal,
 * NO_COLOR respected, and --help with an example for every command.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, REPO, TEST_PATH, ensureBuilt, makeRoot, removeAllRoots, runCli } from './helpers';

beforeAll(ensureBuilt);
afterAll(removeAllRoots);

/** `ssh-tmux-fix …` lines from the sh code blocks of a markdown file, comments stripped. */
function documentedCommands(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const commands: string[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1].split('\n')) {
      const command = line.replace(/\s+#.*$/, '').trim();
      if (command.startsWith('ssh-tmux-fix ')) commands.push(command);
    }
  }
  return commands;
}

const docs = [path.join(REPO, 'README.md'), ...fs.readdirSync(path.join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join(REPO, 'docs', f))];
const cases = docs.flatMap((file) => documentedCommands(file).map((cmd) => [path.relative(REPO, file), cmd] as const));

test('the docs show commands at all (so the table below is not empty by mistake)', () => {
  expect(cases.length).toBeGreaterThanOrEqual(3);
});

test.each(cases)('%s: `%s` runs as documented', (_file, command) => {
  const { home } = makeRoot();
  const args = command.split(/\s+/).slice(1);
  const res = runCli(args, { home });
  expect(res.stderr).not.toMatch(/Unknown argument|unexpected error|Not enough/);
  // doctor and status exit 1 in a home where nothing works yet; everything else must succeed.
  const allowed = ['doctor', 'status'].includes(args[0]) ? [0, 1] : [0];
  expect(allowed).toContain(res.code);
  expect(res.stdout.length).toBeGreaterThan(0);
});

describe('terminal manners', () => {
  const underTerminal = (env: Record<string, string>) => {
    const { home } = makeRoot();
    const out = spawnSync('script', ['-qec', `${process.execPath} ${CLI} status --home '${home.replace(/'/g, `'\\''`)}'`, '/dev/null'], {
      env: { PATH: TEST_PATH, HOME: home, TERM: 'xterm', ...env },
      encoding: 'utf8',
    });
    return out.stdout;
  };

  test('colour on a terminal', () => {
    expect(underTerminal({})).toMatch(/\x1b\[31mfail/);
  });

  test('no colour with NO_COLOR, even on a terminal', () => {
    const out = underTerminal({ NO_COLOR: '1' });
    expect(out).toMatch(/fail/);
    expect(out).not.toMatch(/\x1b\[/);
  });

  test('no colour when the output is not a terminal', () => {
    const { home } = makeRoot();
    const res = runCli(['status'], { home, env: { NO_COLOR: '' } });
    expect(res.stdout).toMatch(/fail/);
    expect(res.stdout).not.toMatch(/\x1b\[/);
  });

  test.each(['install', 'uninstall', 'rollback', 'status', 'doctor', 'snippet'])('%s --help shows an example', (command) => {
    const { home } = makeRoot();
    const res = runCli([command, '--help'], { home, homeArg: null });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Examples:\n\s+ssh-tmux-fix /);
  });
});

test('every finding id doctor can print has its row in docs/troubleshooting.md', () => {
  const sources = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  const ids = new Set(sources(path.join(REPO, 'src')).flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(/\bid: '([a-z0-9-]+)'/g)].map((m) => m[1])));
  expect(ids.size).toBeGreaterThan(10);
  const table = fs.readFileSync(path.join(REPO, 'docs', 'troubleshooting.md'), 'utf8');
  expect([...ids].filter((id) => !table.includes(`| \`${id}\` |`))).toEqual([]);
});
