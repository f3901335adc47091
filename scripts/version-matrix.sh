#!/usr/bin/env bash
# Runs the end-to-end tests whose outcome depends on the tmux and OpenSSH releases once per row of
# ROWS, with the releases scripts/build-versions.sh built (in $STF_VERSIONS_DIR) in place of the
# system's: the versions check, the seed scenario, the version-dependent cases of the matrix
# (the newer of two connections closes, exec sessions, PermitUserRC no), doctor (after a
# reattach, in a stale pane), two clients on one session (tmux 3.3 hooks the client that types;
# older tmux keeps the client that attached last) and DISPLAY following (the rc finds the sshd session by its process
# name, sshd-session from OpenSSH 9.8 on). `npm test` covers the system's own releases.
#
# Each row runs in a private mount namespace (unshare -m) where the built binaries are
# bind-mounted over /usr/bin/tmux, /usr/bin/ssh*, /usr/sbin/sshd. So every process of the run
# finds them at the usual paths, whatever PATH it has: the harness, the private sshd and its
# sessions, login shells (Debian's /etc/profile resets PATH), panes, the tmux server, the CLI and
# the runtime helper. Nothing outside the namespace sees the change.
#
# Usage: scripts/version-matrix.sh [ROW...]   e.g. scripts/version-matrix.sh tmux-3.5a+openssh-10.3p1
# Needs root. Exit status: 0 when every row passed.
set -euo pipefail

cd "$(dirname "$0")/.."

CACHE=${STF_VERSIONS_DIR:-/var/cache/ssh-tmux-fix/versions}

# tmux + OpenSSH per row; "system" is the machine's own release (Debian 12: tmux 3.3a, OpenSSH 9.2p1).
ROWS=(
  "tmux-3.1c+system"          # the oldest tmux tested (Debian 11's), with the system's OpenSSH 9.2
  "tmux-3.5a+openssh-10.0p1"  # Debian 13: the last OpenSSH with sockets in /tmp
  "tmux-3.5a+openssh-10.3p1"  # OpenSSH 10.1+ (Fedora, Arch): sockets in ~/.ssh/agent
)

TESTS=(test/e2e/versions.test.ts test/e2e/seed.test.ts test/e2e/matrix.test.ts test/e2e/doctor.test.ts test/e2e/display.test.ts test/e2e/clients.test.ts)
# Test names, as jest's -t sees them (describe + test). The matrix's other rows are about
# dotfiles and tmux.conf contents, not releases; a filtered run never rewrites docs/comparison.md.
NAMES='^(the versions under test|seed scenario|doctor against real situations|DISPLAY follows ssh -X logins|two machines attached at once|matrix: .* (1\. two connections|2\. PermitUserRC no|3\. five exec sessions))'

OPENSSH_BINARIES=(bin/ssh bin/ssh-add bin/ssh-agent bin/ssh-keygen bin/ssh-keyscan bin/scp bin/sftp sbin/sshd)

die() { printf 'version-matrix: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (bind mounts, throwaway users, a private sshd)"
[ -f dist/cli.js ] || die "dist/cli.js is missing: run npm run build (npm test does) first"

prefix_of() {
  local prefix="$CACHE/$1"
  [ -e "$prefix/.complete" ] || die "$1 is not built in $CACHE: run scripts/build-versions.sh"
  printf '%s\n' "$prefix"
}

# The bind mounts of one row, then jest. main() runs it only as the first process of a new
# mount namespace (unshare -m); the check below makes sure of it, because the mounts must never
# reach the machine's own namespace, where other people and jobs would get these binaries.
run_row() {
  local tmux_name=$1 openssh_name=$2 prefix file
  if [ "$(readlink /proc/$$/ns/mnt)" = "$(readlink /proc/$PPID/ns/mnt)" ]; then
    die "run_row: not in a mount namespace of its own; refusing to bind-mount anything"
  fi
  if [ "$tmux_name" != system ]; then
    prefix=$(prefix_of "$tmux_name")
    # What the built binary calls itself; the tests check that logins and panes see that release.
    STF_EXPECT_TMUX=$("$prefix/bin/tmux" -V | sed -n 's/^tmux //p')
    export STF_EXPECT_TMUX
    mount --bind "$prefix/bin/tmux" "$(command -v tmux)"
  fi
  if [ "$openssh_name" != system ]; then
    prefix=$(prefix_of "$openssh_name")
    # Debian's 1:10.0p1-7+deb13u4 carries the 10.0p2 fix and says 10.0p2.
    STF_EXPECT_OPENSSH=$("$prefix/bin/ssh" -V 2>&1 | sed -n 's/^OpenSSH_\([^ ,]*\).*/\1/p')
    export STF_EXPECT_OPENSSH
    for file in "${OPENSSH_BINARIES[@]}"; do
      if [ -e "/usr/$file" ]; then mount --bind "$prefix/$file" "/usr/$file"; fi
    done
  fi
  printf 'version-matrix: %s: %s, %s\n' "$tmux_name+$openssh_name" "$(tmux -V)" "$(ssh -V 2>&1)"
  exec npx jest --runInBand "${TESTS[@]}" -t "$NAMES"
}

main() {
  local rows=("$@") row status summary=() failed=0 start
  [ ${#rows[@]} -gt 0 ] || rows=("${ROWS[@]}")
  for row in "${rows[@]}"; do
    # Fail early and clearly on a row that is not built, before any test runs.
    [ "${row%%+*}" = system ] || prefix_of "${row%%+*}" >/dev/null
    [ "${row#*+}" = system ] || prefix_of "${row#*+}" >/dev/null
  done
  for row in "${rows[@]}"; do
    start=$(date +%s)
    printf '\n=== version-matrix: %s ===\n' "$row"
    status=0
    unshare --mount --propagation private -- bash -c \
      "set -euo pipefail; $(declare -p CACHE TESTS NAMES OPENSSH_BINARIES); $(declare -f die prefix_of run_row); run_row \"\$@\"" \
      version-matrix "${row%%+*}" "${row#*+}" || status=$?
    summary+=("$(printf '%-28s %s in %d s' "$row" "$([ $status -eq 0 ] && echo pass || echo FAIL)" $(( $(date +%s) - start )))")
    [ $status -eq 0 ] || failed=1
  done
  printf '\nversion-matrix summary:\n'
  printf '  %s\n' "${summary[@]}"
  return $failed
}

main "$@"
