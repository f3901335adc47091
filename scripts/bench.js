#!/usr/bin/env node
// Measures what the fix costs at each login and each prompt, beside the classic recipe and
// beside no fix, in one run: `npm run bench` (after `npm run build`). Prints medians and ratios.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const { join } = require('node:path');

const RUNS = Number(process.env.BENCH_RUNS || 300);
const PROMPT_ROUNDS = Number(process.env.BENCH_PROMPT_ROUNDS || 5);
const base = fs.mkdtempSync(join(os.tmpdir(), 'stf-bench-'));
const home = join(base, 'home');
const bare = join(base, 'bare');
fs.mkdirSync(home);
// The no-fix home holds the same dotfiles, empty, so only our blocks differ.
for (const f of ['.profile', '.bashrc', '.zshrc', '.config/fish/config.fish']) {
  for (const h of [home, bare]) {
    fs.mkdirSync(join(h, f, '..'), { recursive: true });
    fs.writeFileSync(join(h, f), '');
  }
}
const cli = join(__dirname, '..', 'dist', 'cli.js');
const agents = [];
const agentDirs = [];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall time in ms of spawning `argv` RUNS times (after 10 warm-up runs). */
function timeSpawn(argv, envFor) {
  const times = [];
  for (let i = -10; i < RUNS; i += 1) {
    const t0 = process.hrtime.bigint();
    const out = spawnSync(argv[0], argv.slice(1), { env: envFor(i), stdio: ['pipe', 'ignore', 'pipe'], input: '' });
    const t1 = process.hrtime.bigint();
    if (out.status !== 0) throw new Error(`${argv.join(' ')} failed: ${out.stderr}`);
    if (i >= 0) times.push(Number(t1 - t0) / 1e6);
  }
  return median(times);
}

/**
 * Two clients on one tmux session whose logins recorded their sockets (/dev/pts/8 and 9): the
 * helper the hook runs when the typing client changes, alternating, so every run re-points.
 */
function clientSwitchCost(socks, env) {
  const helper = join(home, '.ssh', 'ssh-tmux-fix', 'refresh.sh');
  socks.forEach((sock, n) => spawnSync('/bin/sh', [join(home, '.ssh', 'rc')], { env: { ...env, SSH_AUTH_SOCK: sock, SSH_TTY: `/dev/pts/${8 + n}` }, input: '' }));
  const times = [];
  for (let i = -10; i < RUNS; i += 1) {
    const t0 = process.hrtime.bigint();
    const out = spawnSync('/bin/sh', [helper, 'client', `/dev/pts/${8 + ((i + 10) % 2)}`], { env, stdio: 'ignore' });
    const t1 = process.hrtime.bigint();
    if (out.status !== 0) throw new Error(`client switch failed (${out.status})`);
    if (i >= 0) times.push(Number(t1 - t0) / 1e6);
  }
  // This host's link (1.0.0's agent.sock beside it is a relative link to it).
  const link = fs.readlinkSync(join(home, '.ssh', 'ssh-tmux-fix', os.hostname(), 'agent.sock'));
  if (!socks.includes(link)) throw new Error(`client switch: the link points to ${link}`);
  return median(times);
}

function startAgent(path) {
  fs.mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  agents.push(spawn('ssh-agent', ['-D', '-a', path], { stdio: 'ignore' }));
  agentDirs.push(join(path, '..'));
  while (!fs.existsSync(path)) spawnSync('sleep', ['0.01']);
  return path;
}

/** How many processes a command starts (counted with strace when it is installed). */
function processesStarted(argv, env) {
  const probe = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-o', join(base, 'strace'), ...argv], { env, stdio: 'ignore', input: '' });
  if (probe.error) return 'n/a (no strace)';
  const execs = fs.readFileSync(join(base, 'strace'), 'utf8').split('\n').filter((l) => /execve\(/.test(l) && !/ENOENT/.test(l));
  return String(execs.length - 1);
}

function main() {
  const env = { PATH: process.env.PATH, HOME: home, TERM: 'dumb' };
  const install = spawnSync(process.execPath, [cli, 'install', '--yes', '--home', home, '--shell', 'bash,zsh,fish'], { env, encoding: 'utf8' });
  if (install.status !== 0) throw new Error(install.stderr);
  // Forwarded sockets as OpenSSH up to 10.0 makes them, /tmp/ssh-XXXX/agent.<pid of a live
  // process>, so the prompt hooks watch that pid as they do for a real login.
  const socks = ['a', 'b'].map(() => startAgent(join(fs.mkdtempSync('/tmp/ssh-stfbench'), `agent.${process.pid}`)));
  // And one in ~/.ssh/agent/ (OpenSSH 10.1+): no pid in its name.
  const agentDirSock = startAgent(join(home, '.ssh', 'agent', 's.bench00000.sshd.0000000000'));
  const rc = join(home, '.ssh', 'rc');
  const classicRc = join(base, 'classic-rc');
  fs.writeFileSync(classicRc, 'if [ -S "$SSH_AUTH_SOCK" ]; then ln -sf "$SSH_AUTH_SOCK" ~/.ssh/ssh_auth_sock; fi\n');
  const emptyRc = join(base, 'empty-rc');
  fs.writeFileSync(emptyRc, '');
  // Each login brings a new socket: alternate two, so every run really re-points the link.
  const login = (i) => ({ ...env, SSH_AUTH_SOCK: socks[(i + 2) % 2], SSH_TTY: '/dev/pts/9' });

  const rows = [];
  const rcNone = timeSpawn(['/bin/sh', emptyRc], login);
  const rcClassic = timeSpawn(['/bin/sh', classicRc], login);
  const rcOurs = timeSpawn(['/bin/sh', rc], login);
  rows.push(['~/.ssh/rc per login', rcNone, rcClassic, rcOurs]);
  rows.push(x11LoginRow(rc, login));
  const switches = clientSwitchCost(socks, env);

  const settled = () => ({ ...env, SSH_AUTH_SOCK: socks[0] });
  spawnSync('/bin/sh', [rc], { env: settled(), input: '' });
  const shells = [
    ['bash login shell', 'bash', ['-lic', 'exit']],
    ['zsh login shell', 'zsh', ['-lic', 'exit']],
    ['fish login shell', 'fish', ['-lic', 'exit']],
  ];
  const spawnCounts = [];
  for (const [label, shell, args] of shells) {
    const none = timeSpawn([shell, ...args], () => ({ ...settled(), HOME: bare }));
    const ours = timeSpawn([shell, ...args], settled);
    rows.push([`${label} (link already right)`, none, null, ours]);
    spawnCounts.push([label, processesStarted([shell, ...args], { ...settled(), HOME: bare }), processesStarted([shell, ...args], settled())]);
  }

  const prompt = promptCosts(settled(), 'link to /tmp/ssh-XXXX/agent.<pid>');
  // A pane whose DISPLAY came from ssh -X, following a live X11 login's record.
  const displayDir = join(home, '.ssh', 'ssh-tmux-fix', os.hostname(), 'displays');
  fs.mkdirSync(displayDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(join(displayDir, String(process.pid)), `${process.pid}\nlocalhost:11.0\n\n`);
  // (The X11 login row above left the record of a stand-in sshd that has exited.)
  fs.rmSync(join(home, '.ssh', 'ssh-tmux-fix', os.hostname(), 'display'), { force: true });
  fs.symlinkSync(join(displayDir, String(process.pid)), join(home, '.ssh', 'ssh-tmux-fix', os.hostname(), 'display'));
  prompt.push(...promptCosts({ ...settled(), DISPLAY: 'localhost:10.0' }, 'link to /tmp/ssh-XXXX/agent.<pid>, forwarded DISPLAY'));
  spawnSync('/bin/sh', [join(home, '.ssh', 'ssh-tmux-fix', 'refresh.sh'), 'login'], { env: { ...env, SSH_AUTH_SOCK: agentDirSock } });
  prompt.push(...promptCosts(settled(), 'link to ~/.ssh/agent/s.*'));
  const fmt = (x) => (x === null ? '-' : `${x.toFixed(2)} ms`);
  const lines = [
    `Runs per figure: ${RUNS} (median). ${os.cpus().length} x ${os.cpus()[0].model.trim()}, ${os.type()} ${os.release()}.`,
    '',
    '| per login | no fix | classic `ln -sf` rc | ssh-tmux-fix | vs classic | vs no fix |',
    '|---|---|---|---|---|---|',
    ...rows.map(([label, none, classic, ours]) =>
      `| ${label} | ${fmt(none)} | ${fmt(classic)} | ${fmt(ours)} | ${classic ? `${(ours / classic).toFixed(2)}x` : '-'} | ${(ours / none).toFixed(2)}x |`),
    '',
    `tmux hook when the typing client changes (client-active; run in the background, never at a prompt): ${switches.toFixed(2)} ms per switch (\`sh refresh.sh client <tty>\`, a probe of the client's agent and the re-pointed link), ${RUNS} switches, median.`,
    '',
    '| processes started by a login shell whose link is already right | no fix | ssh-tmux-fix |',
    '|---|---|---|',
    ...spawnCounts.map(([label, none, ours]) => `| ${label} | ${none} | ${ours} |`),
    '',
    `Prompt hooks: CPU time of the shell (user + system), the best of ${PROMPT_ROUNDS} rounds.`,
    '',
    '| per prompt inside tmux, link healthy | hook | empty function | hook - empty | processes started |',
    '|---|---|---|---|---|',
    ...prompt.map(([label, hook, empty, procs]) => `| ${label} | ${hook.toFixed(2)} µs | ${empty.toFixed(2)} µs | ${(hook - empty).toFixed(2)} µs | ${procs} |`),
    '',
    '| bash DEBUG trap, per simple command, link healthy (CPU time, best of the rounds) | no trap | trap calling an empty function | our trap | ours - empty-function trap |',
    '|---|---|---|---|---|',
    ...trapRows.map(([label, none, empty, ours]) => `| ${label} | ${none.toFixed(2)} µs | ${empty.toFixed(2)} µs | ${ours.toFixed(2)} µs | ${(ours - empty).toFixed(2)} µs |`),
    '',
    `CLI start: CPU time (user + system, with the processes it starts) per run, median of ${CLI_RUNS} runs each, interleaved.`,
    '',
    '| command | CPU per run | vs bare `node -e 0` |',
    '|---|---|---|',
    ...cliStartRows(env).map(([label, ms, ratio]) => `| ${label} | ${ms.toFixed(1)} ms | ${ratio.toFixed(2)}x |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

const trapRows = [];
const CLI_RUNS = Number(process.env.BENCH_CLI_RUNS || 40);

/**
 * `--version`, `status` and `snippet` beside bare node. bash's `times` gives the CPU time of
 * the children it waited for; rounds alternate the commands, so a busy machine slows all alike.
 */
function cliStartRows(env) {
  const commands = [
    ['`node -e 0`', [process.execPath, '-e', '0']],
    ['`ssh-tmux-fix --version`', [process.execPath, cli, '--version']],
    ['`ssh-tmux-fix status`', [process.execPath, cli, 'status']],
    ['`ssh-tmux-fix snippet bash`', [process.execPath, cli, 'snippet', 'bash']],
  ];
  const samples = commands.map(() => []);
  const quote = (argv) => argv.map((a) => `'${a}'`).join(' ');
  for (let round = 0; round < CLI_RUNS; round += 1) {
    commands.forEach(([, argv], i) => {
      const out = spawnSync('bash', ['-c', `${quote(argv)} >/dev/null 2>&1; times`], { env, encoding: 'utf8' });
      // The second line of `times`: the children's user and system time, "0m0.041s 0m0.012s".
      const [user, system] = out.stdout.trim().split('\n')[1].split(' ').map((t) => {
        const [m, sec] = t.replace(/s$/, '').split('m');
        return Number(m) * 60 + Number(sec);
      });
      samples[i].push((user + system) * 1000);
    });
  }
  // Medians: a run that another job slowed down moves a mean, not a median.
  const per = samples.map(median);
  return commands.map(([label], i) => [label, per[i], per[i] / per[0]]);
}

/** CPU seconds (user + system) as the shells print them ("0.41+0.01", zsh "0.41s+0.01s"): waiting for a busy CPU is not counted. */
function cpuSeconds(text) {
  return text.split('+').reduce((sum, part) => sum + Number(part.replace(/s$/, '')), 0);
}

/**
 * ~/.ssh/rc at an ssh -X login: feeds the cookie to xauth and records the DISPLAY. Without an
 * rc sshd runs that xauth itself, so "no fix" is xauth alone. The rc finds its login's sshd
 * session as the parent of the sshd child it runs from: two copies of sh named sshd stand in.
 */
function x11LoginRow(rc, login) {
  const fakeSshd = join(base, 'sshd');
  fs.copyFileSync('/bin/sh', fakeSshd);
  fs.chmodSync(fakeSshd, 0o755);
  const cookie = 'MIT-MAGIC-COOKIE-1 0123456789abcdef0123456789abcdef\n';
  const x11 = (i) => ({ ...login(i), DISPLAY: `localhost:${10 + (i + 10) % 2}.0`, XAUTHORITY: join(base, 'Xauthority') });
  const timeX11 = (script) => timeSpawn([fakeSshd, '-c', `${fakeSshd} -c '/bin/sh ${script}; :' <<EOF\n${cookie}EOF\n:`], x11);
  const xauthOnly = join(base, 'xauth-rc');
  fs.writeFileSync(xauthOnly, 'read -r proto cookie; printf "add unix:10.0 %s %s\\n" "$proto" "$cookie" | xauth -q -\n');
  return ['~/.ssh/rc per ssh -X login (xauth; ours also records DISPLAY)', timeX11(xauthOnly), null, timeX11(rc)];
}

/** Calls the installed prompt hook many times inside one interactive shell. */
function promptCosts(env, where) {
  const n = 20000;
  // bash and zsh hold the DISPLAY test in their hook; fish adds a second handler for it.
  const fishHooks = env.DISPLAY ? '__stf_heal; __stf_display_follow' : '__stf_heal';
  const tmuxEnv = { ...env, TMUX: '/tmp/tmux-bench/default,1,0' };
  const loops = [
    ['bash', 'bash', ['-ic', `f(){ :; }; trap - DEBUG; TIMEFORMAT='%U+%S'; { time for ((i=0;i<${n};i++)); do __stf_heal; done; } 2>&1; { time for ((i=0;i<${n};i++)); do f; done; } 2>&1`]],
    ['zsh', 'zsh', ['-ic', `f(){ :; }; TIMEFMT='%U+%S'; { time (for ((i=0;i<${n};i++)); do __stf_heal; done) } 2>&1; { time (for ((i=0;i<${n};i++)); do f; done) } 2>&1`]],
    // fish's own CPU time, from /proc (clock ticks of 10 ms; 20000 calls take seconds).
    ['fish', 'fish', ['-ic', `function f; end; function cpu; set -l s (string split ' ' < /proc/$fish_pid/stat); echo $s[14]+$s[15]; end; set t (cpu); for i in (seq ${n}); ${fishHooks}; end; set u (cpu); for i in (seq ${n}); f; end; set v (cpu); echo (math "(($u) - ($t)) / 100"); echo (math "(($v) - ($u)) / 100")`]],
  ];
  // bash's preexec is a DEBUG trap: it runs before each simple command typed at the prompt.
  // Measured beside no trap and beside a trap that calls an empty function, in one shell.
  const loop = `{ time for ((i=0;i<${n};i++)); do :; done; } 2>&1`;
  let trap = [Infinity, Infinity, Infinity];
  for (let round = 0; round < PROMPT_ROUNDS; round += 1) {
    const trapOut = spawnSync('bash', ['-ic', `TIMEFORMAT='%U+%S'; f(){ :; }; ours=$(trap -p DEBUG); trap - DEBUG; ${loop}; trap f DEBUG; ${loop}; eval "$ours"; ${loop}`], { env: tmuxEnv, encoding: 'utf8' });
    trap = trapOut.stdout.trim().split(/\s+/).map((x, i) => Math.min(trap[i], (cpuSeconds(x) * 1e6) / n));
  }
  trapRows.push([where, ...trap]);
  return loops.map(([label, shell, args]) => {
    // The best of a few rounds: other jobs on the machine only ever add time.
    let [hook, empty] = [Infinity, Infinity];
    for (let round = 0; round < PROMPT_ROUNDS; round += 1) {
      const out = spawnSync(shell, args, { env: tmuxEnv, encoding: 'utf8' });
      const [h, e] = out.stdout.trim().split(/\s+/).map((x) => (cpuSeconds(x) * 1e6) / n);
      [hook, empty] = [Math.min(hook, h), Math.min(empty, e)];
    }
    // The shell's own start-up may start processes (fish does): count only what 100 calls add.
    const hooks = label === 'fish' ? fishHooks : '__stf_heal';
    const calls = label === 'fish' ? `set i 0; while test $i -lt 100; ${hooks}; set i (math $i + 1); end` : `for ((i=0;i<100;i++)); do ${hooks}; done`;
    const procs = Number(processesStarted([shell, '-ic', calls], tmuxEnv)) - Number(processesStarted([shell, '-ic', 'true'], tmuxEnv));
    return [`${label}, ${where} (${n} calls)`, hook, empty, `${procs} in 100 calls`];
  });
}

try {
  main();
} finally {
  for (const agent of agents) agent.kill('SIGKILL');
  fs.rmSync(base, { recursive: true, force: true });
  for (const dir of agentDirs) if (dir.startsWith('/tmp/ssh-stfbench')) fs.rmSync(dir, { recursive: true, force: true });
}
