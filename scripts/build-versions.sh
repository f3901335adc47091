#!/usr/bin/env bash
# Builds the tmux and OpenSSH releases the version matrix tests, from Debian's source packages,
# each once into its own prefix under a cache directory outside the checkout:
#   $STF_VERSIONS_DIR/<name>-<version>/{bin,sbin,libexec,...}   (default /var/cache/ssh-tmux-fix/versions)
# A prefix is reused when its .complete stamp exists, so a warm machine builds nothing.
# Usage: scripts/build-versions.sh [NAME...]   (default: every entry of VERSIONS below)
# Needs root (sshd's privilege separation directory must be root-owned), dpkg-dev and the build
# dependencies that .ci/run installs (autoconf for Debian's patched OpenSSH).
set -euo pipefail

# name, source package, Debian version (from bullseye, trixie, forky), and how it is built:
# dsc = Debian's source with Debian's patches, as that release's users run it; orig = the
# upstream tarball, where the archive serves nothing else of that version.
VERSIONS=(
  "tmux-3.1c      tmux    3.1c-1+deb11u1      dsc"
  "tmux-3.5a      tmux    3.5a-3              dsc"
  "openssh-10.0p1 openssh 1:10.0p1-7+deb13u4  dsc"
  "openssh-10.3p1 openssh 1:10.3p1-4          orig"
)

CACHE=${STF_VERSIONS_DIR:-/var/cache/ssh-tmux-fix/versions}
JOBS=${STF_BUILD_JOBS:-2}
APT_DIR="$CACHE/.apt"

log() { printf 'build-versions: %s\n' "$*" >&2; }

# The Debian mirror this machine already uses (never a host written down here).
debian_mirror() {
  local uri
  uri=$(grep -hsE '^[[:space:]]*URIs:[[:space:]]*[a-z]+://[^ ]*/debian/?[[:space:]]*$' \
          /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
  if [ -z "$uri" ]; then
    uri=$(grep -hsE '^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[a-z]+://[^ ]*/debian/?[[:space:]]' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          sed -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//' | awk '{print $1}' | head -n1)
  fi
  [ -n "$uri" ] || { log "no Debian mirror found in /etc/apt/sources.list(.d)"; exit 1; }
  printf '%s\n' "${uri%/}"
}

# Private apt state: our own sources file, lists and cache; the machine's apt setup is untouched.
APT_OPTS=()
apt_prepare() {
  [ ${#APT_OPTS[@]} -eq 0 ] || return 0
  local mirror suite
  mirror=$(debian_mirror)
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
  : >"$APT_DIR/sources.list"
  for suite in bullseye trixie forky; do
    printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
      "$mirror" "$suite" >>"$APT_DIR/sources.list"
  done
  APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache")
  log "apt-get update (private deb-src lists for bullseye trixie forky)"
  apt-get "${APT_OPTS[@]}" update -qq >&2
}

# Downloads and unpacks one source into $2 (a fresh directory); prints the source tree's path.
fetch_source() {
  local pkg=$1 version=$2 how=$3 work=$4 upstream
  upstream=${version#*:}
  upstream=${upstream%-*}
  (
    cd "$work"
    if [ "$how" = dsc ]; then
      apt-get "${APT_OPTS[@]}" source -qq --download-only "$pkg=$version" >&2
      # apt-get checked every file against the signed index; the .dsc itself is not signed
      # with a key this machine holds.
      dpkg-source --no-check -x ./*.dsc src >&2
    else
      # Only the upstream tarball of this release is served: build upstream as it is.
      apt-get "${APT_OPTS[@]}" source -qq --download-only --tar-only "$pkg=$version" >&2
      mkdir src
      tar -xzf "${pkg}_${upstream}.orig.tar.gz" -C src --strip-components=1
    fi
  )
  printf '%s\n' "$work/src"
}

build_tmux() {
  local src=$1 prefix=$2
  (cd "$src" && ./configure --prefix="$prefix" >&2 && make -j"$JOBS" >&2 && make install >&2)
}

build_openssh() {
  local src=$1 prefix=$2
  (
    cd "$src"
    # Debian's patches change configure.ac and its rules regenerate configure (dh_autoreconf);
    # the tarball's aclocal.m4 is enough for autoconf and autoheader.
    if [ configure.ac -nt configure ]; then
      autoconf >&2
      autoheader >&2
    fi
    # mkdtemp as Debian's rules do. The system's /etc/ssh as Debian's build does (doctor's
    # `sshd -T` reads it), but installing leaves it alone (install-nosysconf). Its own privsep
    # directory, so it never borrows the system sshd's /run/sshd.
    ac_cv_func_mkdtemp=no ./configure --prefix="$prefix" --sysconfdir=/etc/ssh \
      --libexecdir="$prefix/libexec" --with-privsep-path="$prefix/var/empty" \
      --with-default-path=/usr/local/bin:/usr/bin:/bin:/usr/games --with-xauth=/usr/bin/xauth >&2
    make -j"$JOBS" >&2
    make install-nosysconf >&2
  )
  install -d -m 0755 -o root -g root "$prefix/var/empty"
}

build_one() {
  local name=$1 pkg=$2 version=$3 how=$4
  local prefix="$CACHE/$name" work start
  if [ -e "$prefix/.complete" ]; then
    log "$name: cached in $prefix"
    return 0
  fi
  start=$(date +%s)
  log "$name: building $pkg $version ($how) into $prefix"
  rm -rf "$prefix" "$CACHE/.work-$name"
  work="$CACHE/.work-$name"
  mkdir -p "$work"
  apt_prepare
  local src
  src=$(fetch_source "$pkg" "$version" "$how" "$work")
  "build_$pkg" "$src" "$prefix"
  printf '%s %s %s\n' "$pkg" "$version" "$how" >"$prefix/.complete"
  rm -rf "$work"
  log "$name: built in $(( $(date +%s) - start )) s"
}

main() {
  local entry wanted=" $* " known=" "
  for entry in "${VERSIONS[@]}"; do known+="${entry%% *} "; done
  for entry in "$@"; do
    case $known in
      *" $entry "*) ;;
      *) log "unknown name '$entry'; known:$known"; exit 2 ;;
    esac
  done
  mkdir -p "$CACHE"
  # One build at a time per cache (two CI jobs on one machine share it).
  exec 9>"$CACHE/.lock"
  flock 9
  for entry in "${VERSIONS[@]}"; do
    [ "$wanted" = "  " ] || case $wanted in *" ${entry%% *} "*) ;; *) continue ;; esac
    # shellcheck disable=SC2086 # the entry is a whitespace-separated record
    build_one $entry
  done
}

main "$@"
