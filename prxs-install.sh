#!/usr/bin/env bash
# Build the proftpd-rs cdylib and install it into proftpd's module directory,
# like `prxs -i` does for a C module.
#
# One real file, proftpd_rs.so (mode 0644), plus one symlink per module that the
# library exports (mod_unique_id.so -> proftpd_rs.so, ...).  `LoadModule
# mod_foo.c` dlopens <ModulePath>/mod_foo.so and looks up `foo_module`; the
# symlinks all resolve to the same inode, so the library is mapped once.
# An existing file that is not ours (e.g. Debian's C mod_unique_id.so) is moved
# to mod_foo.so.c-orig first; --uninstall puts it back.
#
# Build as yourself, install as root:
#   ./prxs-install.sh --build-only          (cargo build --release --lib)
#   sudo ./prxs-install.sh --no-build
# As root it refuses to build in a checkout that belongs to another user:
# cargo and every build script would run as root and leave root-owned files
# in that user's target/.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The modules, from modules.txt (one short name NAME a line): "module file
# name (without .so):exported module symbol", i.e. mod_NAME:NAME_module.
MODULES=()
while read -r name; do
  MODULES+=("mod_$name:${name}_module")
done < <(awk '{ sub(/#.*/, "") } NF { print $1 }' "$here/modules.txt")
((${#MODULES[@]})) || {
  echo "prxs-install.sh: error: no module listed in $here/modules.txt" >&2
  exit 1
}
REAL_NAME=proftpd_rs.so
BACKUP_SUFFIX=.c-orig

usage() {
  local files
  files=$(printf '%s.so ' "${MODULES[@]%%:*}")
  cat <<EOF
Usage: $0 [options]

Build the release cdylib (cargo build --release --lib) and install it into
proftpd's shared module directory, one file a module of modules.txt,
each only if the library exports that module:
  ${files% }

Build as yourself, then install as root:
  $0 --build-only
  sudo $0 --no-build
(As root it does not build in a checkout that belongs to another user.)

Options:
  --dest DIR     install into DIR (created if needed) instead of proftpd's
                 module directory; use it with "ModulePath DIR"
  --build-only   build, install nothing (no root needed)
  --no-build     do not run cargo; install the library already built
  --lib FILE     install FILE instead of target/release/libproftpd_rs.so
                 (implies --no-build)
  --uninstall    remove our files and restore the backed-up C modules
  -h, --help     show this help

Files in the module directory:
  $REAL_NAME             the library (mode 0644)
  mod_xxx.so               symlink to $REAL_NAME, one per exported module
  mod_xxx.so$BACKUP_SUFFIX        the file that was there before (e.g. the C module)

Environment:
  PROFTPD           proftpd binary to ask for the module directory
                    (default: proftpd on PATH, else /usr/sbin/proftpd)
  CARGO_TARGET_DIR  cargo's target directory (default: ./target)
EOF
}

die() {
  echo "prxs-install.sh: error: $*" >&2
  exit 1
}
note() { echo "prxs-install.sh: $*"; }

dest=""
build=1
build_only=0
lib=""
uninstall=0
while (($#)); do
  case "$1" in
    --dest)
      (($# >= 2)) || die "--dest needs a directory"
      dest=$2
      shift 2
      ;;
    --dest=*)
      dest=${1#--dest=}
      shift
      ;;
    --no-build)
      build=0
      shift
      ;;
    --build-only)
      build_only=1
      shift
      ;;
    --lib)
      (($# >= 2)) || die "--lib needs a file"
      lib=$2
      build=0
      shift 2
      ;;
    --lib=*)
      lib=${1#--lib=}
      build=0
      shift
      ;;
    --uninstall)
      uninstall=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# --- proftpd and its module directory ---------------------------------------

proftpd_bin() {
  if [[ -n ${PROFTPD:-} ]]; then
    [[ -x $PROFTPD ]] || die "PROFTPD=$PROFTPD is not an executable"
    echo "$PROFTPD"
  elif command -v proftpd >/dev/null 2>&1; then
    command -v proftpd
  elif [[ -x /usr/sbin/proftpd ]]; then
    echo /usr/sbin/proftpd
  else
    die "proftpd not found (install the Debian package proftpd-core, or set PROFTPD=/path/to/proftpd)"
  fi
}

# Checks that proftpd can load modules; prints its module directory.
module_dir() {
  local bin info dir=""
  bin=$(proftpd_bin) || exit 1
  info=$("$bin" -V 2>&1) || true
  grep -q 'Shared Module Directory' <<<"$info" || grep -q 'DSO support' <<<"$info" ||
    die "'$bin -V' did not print proftpd's build settings:"$'\n'"$info"
  grep -qF '+ DSO support' <<<"$info" ||
    die "$bin was built without DSO support ('$bin -V' does not show '+ DSO support'): it cannot load modules"
  # "Shared Module Directory:" is followed by the directory on the next line.
  dir=$(awk '/Shared Module Directory:/ { getline; sub(/^[ \t]+/, ""); sub(/[ \t]+$/, ""); print; exit }' <<<"$info")
  if [[ -z $dir ]] && command -v prxs >/dev/null 2>&1; then
    # prxs has the directory hard-coded: my $libexecdir = q(/usr/lib/proftpd);
    # shellcheck disable=SC2016  # a literal $ in the pattern
    dir=$(sed -n 's/^my \$libexecdir = q(\(.*\));.*/\1/p' "$(command -v prxs)" | head -n1)
  fi
  [[ -n $dir ]] || die "cannot determine proftpd's module directory (neither '$bin -V' nor prxs names it); use --dest DIR"
  echo "$dir"
}

# --- which files are ours ---------------------------------------------------

# Ours: a symlink to $REAL_NAME, or a copy of our library (it carries module
# versions like "mod_unique_id/0.1.0-rs").
is_ours() {
  local f=$1
  if [[ -L $f ]]; then
    [[ $(readlink "$f") == "$REAL_NAME" || $(readlink "$f") == */"$REAL_NAME" ]]
  elif [[ -f $f ]]; then
    LC_ALL=C grep -aqE 'mod_[a-z_]+/[0-9][0-9.]*-rs' "$f"
  else
    return 1
  fi
}

# Moves a foreign file out of the way (replacing an older backup).
backup() {
  local f=$1
  if [[ -e $f || -L $f ]] && ! is_ours "$f"; then
    mv -f -- "$f" "$f$BACKUP_SUFFIX"
    note "backed up $f -> $f$BACKUP_SUFFIX"
  fi
}

# Removes our file $1 and puts the backup back, if there is one.
remove_and_restore() {
  local f=$1
  if [[ -e $f || -L $f ]]; then
    if is_ours "$f"; then
      rm -f -- "$f"
      note "removed $f"
    else
      [[ -e $f$BACKUP_SUFFIX ]] && note "warning: $f is not ours; leaving it and $f$BACKUP_SUFFIX alone" >&2
      return 0
    fi
  fi
  if [[ -e $f$BACKUP_SUFFIX || -L $f$BACKUP_SUFFIX ]]; then
    mv -f -- "$f$BACKUP_SUFFIX" "$f"
    note "restored $f"
  fi
}

# --- uninstall --------------------------------------------------------------

if ((uninstall)); then
  if [[ -n $dest ]]; then
    [[ -d $dest ]] || die "$dest is not a directory"
    dir=$(cd "$dest" && pwd)
  else
    dir=$(module_dir) || exit 1
    [[ -d $dir ]] || die "proftpd's module directory $dir does not exist"
  fi
  for m in "${MODULES[@]}"; do
    remove_and_restore "$dir/${m%%:*}.so"
  done
  if [[ -e $dir/$REAL_NAME ]]; then
    rm -f -- "$dir/$REAL_NAME"
    note "removed $dir/$REAL_NAME"
  fi
  note "uninstalled from $dir"
  exit 0
fi

# --- build ------------------------------------------------------------------

if ((build_only)); then
  ((build)) || die "--build-only and --no-build (or --lib) exclude each other"
  [[ -z $dest ]] || die "--build-only installs nothing: drop --dest"
else
  # Even with --dest: the files are only of use to a proftpd that loads modules.
  default_dir=$(module_dir) || exit 1
fi

if [[ -z $lib ]]; then
  lib=${CARGO_TARGET_DIR:-$here/target}/release/libproftpd_rs.so
  [[ $lib == /* ]] || lib=$here/$lib
fi

# As root in another user's checkout: cargo would leave root-owned files in
# their target/ (and run every build script as root).  Refuse, saying how.
refuse_root_build() {
  local d owner
  [[ $(id -u) == 0 ]] || return 0
  for d in "$here" "${CARGO_TARGET_DIR:-$here/target}"; do
    [[ -e $d ]] || continue
    owner=$(stat -c %U "$d" 2>/dev/null) || continue
    [[ $owner == root ]] && continue
    die "not building as root in $owner's checkout ($d belongs to $owner): cargo and every build
script would run as root and leave root-owned files in target/.  Build as $owner, then install:
  ./prxs-install.sh --build-only        (as $owner; or: cargo build --release --lib)
  sudo ./prxs-install.sh --no-build"
  done
}

if ((build)); then
  refuse_root_build
  if ! command -v cargo >/dev/null 2>&1 && [[ -f $HOME/.cargo/env ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust stable (https://rustup.rs), or build first and run with --no-build"
  note "building: cargo build --release --lib"
  (cd "$here" && cargo build --release --lib)
fi
[[ -f $lib ]] || die "$lib not found (build it with 'cargo build --release --lib', or drop --no-build)"
if ((build_only)); then
  note "built $lib; to install it: sudo $0 --no-build"
  exit 0
fi
command -v nm >/dev/null 2>&1 || die "nm not found (install the Debian package binutils)"

# --- what the library exports ------------------------------------------------

symbols=$(nm -D --defined-only "$lib" 2>/dev/null | awk '{ print $NF }') ||
  die "cannot read the dynamic symbols of $lib"
exported=()
for m in "${MODULES[@]}"; do
  grep -qx "${m#*:}" <<<"$symbols" && exported+=("${m%%:*}")
done
((${#exported[@]})) || die "$lib exports none of the module symbols (${MODULES[*]#*:})"

# --- install ----------------------------------------------------------------

if [[ -n $dest ]]; then
  mkdir -p -- "$dest"
  dir=$(cd "$dest" && pwd)
else
  dir=$default_dir
  [[ -d $dir ]] || die "proftpd's module directory $dir does not exist; use --dest DIR"
fi
[[ -w $dir ]] || die "$dir is not writable (run as root: sudo $0 --no-build)"

# The library: copy under a temporary name, then rename, so that running
# proftpd processes keep their mapping of the old file.
tmp=$(mktemp "$dir/.$REAL_NAME.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cp -- "$lib" "$tmp"
chmod 0644 "$tmp"
mv -f -- "$tmp" "$dir/$REAL_NAME"
trap - EXIT
note "installed $lib -> $dir/$REAL_NAME"

for m in "${MODULES[@]}"; do
  name=${m%%:*}
  f=$dir/$name.so
  if [[ " ${exported[*]} " == *" $name "* ]]; then
    backup "$f"
    ln -sfn -- "$REAL_NAME" "$f"
    note "installed $f -> $REAL_NAME"
  elif is_ours "$f"; then
    # Installed by an earlier build that exported it; this one does not.
    remove_and_restore "$f"
  fi
done

echo
if [[ -n $dest || $dir != "$default_dir" ]]; then
  echo "Add to proftpd.conf:"
  echo
  echo "  ModulePath $dir"
else
  echo "Add to proftpd.conf (Debian: /etc/proftpd/modules.conf), unless already there:"
  echo
fi
for name in "${exported[@]}"; do
  echo "  LoadModule $name.c"
done
