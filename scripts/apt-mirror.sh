#!/usr/bin/env bash
# The Debian mirror this machine's apt uses, for the scripts that make root
# filesystems and images from Debian's packages (scripts/rootfs.sh,
# scripts/docker-base.sh; sourced by them).  Run alone it prints what they
# would use:
#
#   scripts/apt-mirror.sh               "mirror URI" and "security URI" lines
#
# proftpd_rs_mirror [archive|security]  prints the URI (exit status 1 and a
#                                       message saying what to set when none;
#                                       nothing when the variable is set empty)
#
# PROFTPD_RS_MIRROR (the Debian archive) and PROFTPD_RS_SECURITY_MIRROR (its
# security updates) override what apt uses; PROFTPD_RS_SECURITY_MIRROR set
# but empty: no security mirror.  Otherwise the first `deb` entry of the
# Debian archive in apt's sources, in the order apt reads them: the one-line
# sources.list, then sources.list.d/*.list and *.sources (deb822) by name.
# An entry is of the Debian archive when it is enabled, of type `deb` (not
# deb-src), names a Debian suite (a Debian codename or stable, testing, sid
# ...; for security, SUITE-security or the old SUITE/updates) with the `main`
# component, and nothing says otherwise: its Release file in apt's lists
# (when apt has fetched it) has Origin Debian, and a Signed-By keyring it
# names, if any, is Debian's archive keyring (or the Release file says Debian).

# The words that are Debian suites (codenames and their aliases).
PROFTPD_RS_DEBIAN_SUITES="jessie stretch buster bullseye bookworm trixie forky duke
  sid oldoldstable oldstable stable testing unstable experimental rc-buggy"

# proftpd_rs_apt_entries LIST PARTS: the entries of apt's sources, one a line,
# "TYPE URI SUITE COMPONENTS SIGNED-BY" (COMPONENTS comma-separated, SIGNED-BY
# "-" when none, "inline" for a key written into the entry), in apt's order;
# disabled ones left out.
proftpd_rs_apt_entries() {
  local list=$1 parts=$2 f files=()
  [[ -f $list ]] && files+=("$list")
  if [[ -d $parts ]]; then
    # apt reads *.list and *.sources of the folder together, sorted by name.
    while IFS= read -r f; do
      files+=("$parts/$f")
    done < <(find "$parts" -maxdepth 1 -type f \( -name '*.list' -o -name '*.sources' \) \
      -printf '%f\n' | LC_ALL=C sort)
  fi
  for f in "${files[@]}"; do
    if [[ $f == *.sources ]]; then
      proftpd_rs_deb822_entries <"$f"
    else
      proftpd_rs_one_line_entries <"$f"
    fi
  done
}

# One-line format: "TYPE [OPTIONS] URI SUITE [COMPONENT...]  # comment".
proftpd_rs_one_line_entries() {
  awk '
    { sub(/#.*/, "") }
    NF < 3 { next }
    {
      type = $1; i = 2; signed = "-"; enabled = 1
      if ($2 ~ /^\[/) {
        # Options up to the word that ends with "]".
        opts = ""
        for (; i <= NF; i++) {
          opts = opts " " $i
          if ($i ~ /\]$/) { i++; break }
        }
        gsub(/[][]/, " ", opts)
        n = split(opts, o, " ")
        for (j = 1; j <= n; j++) {
          split(o[j], kv, "=")
          k = tolower(kv[1])
          if (k == "signed-by") signed = substr(o[j], length(kv[1]) + 2)
          if (k == "enabled" && tolower(kv[2]) == "no") enabled = 0
        }
      }
      if (!enabled || i + 1 > NF) next
      uri = $i; suite = $(i + 1); comps = ""
      for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : ",") $j
      print type, uri, suite, (comps == "" ? "-" : comps), signed
    }
  '
}

# deb822 format: stanzas of "Field: value" (continuation lines start with a
# space), separated by empty lines; "#" lines are comments.
proftpd_rs_deb822_entries() {
  awk '
    function flush(   nt, nu, ns, a, b, c, t, u, s, comps) {
      if (seen && tolower(f["enabled"]) != "no") {
        comps = f["components"]; gsub(/[ \t]+/, ",", comps)
        sub(/^,/, "", comps); sub(/,$/, "", comps)
        if (comps == "") comps = "-"
        signed = f["signed-by"]
        if (signed == "") signed = "-"
        else if (multi["signed-by"]) signed = "inline"
        else gsub(/[ \t]+/, ",", signed)
        nt = split(f["types"], t, /[ \t]+/)
        nu = split(f["uris"], u, /[ \t]+/)
        ns = split(f["suites"], s, /[ \t]+/)
        for (a = 1; a <= nt; a++) for (b = 1; b <= nu; b++) for (c = 1; c <= ns; c++)
          if (t[a] != "" && u[b] != "" && s[c] != "") print t[a], u[b], s[c], comps, signed
      }
      split("", f); split("", multi); seen = 0; key = ""
    }
    /^#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ {
      # A continuation line (an inline key, or a value over several lines).
      if (key != "") { multi[key] = 1; line = $0; sub(/^[ \t]+/, "", line); f[key] = f[key] " " line }
      next
    }
    {
      i = index($0, ":"); if (i == 0) next
      key = tolower(substr($0, 1, i - 1)); val = substr($0, i + 1)
      sub(/^[ \t]+/, "", val); sub(/[ \t]+$/, "", val)
      f[key] = val; seen = 1
    }
    END { flush() }
  '
}

# proftpd_rs_release_origin LISTS URI SUITE: the Origin of the Release file
# apt fetched for URI SUITE (empty when apt has none).
proftpd_rs_release_origin() {
  local lists=$1 uri=$2 suite=$3 name f
  # apt's file name: the URI without scheme and user, "_" quoted, "/" as "_".
  name=${uri#*://}
  name=${name#*@}
  name=${name%/}
  name=${name//_/%5f}
  name=${name//\//_}_dists_${suite//\//_}
  for f in "$lists/${name}_InRelease" "$lists/${name}_Release"; do
    [[ -f $f ]] || continue
    sed -n 's/^Origin:[[:space:]]*//p' "$f" | head -n1
    return 0
  done
}

# proftpd_rs_mirror_from KIND LIST PARTS LISTS [CODENAME]: the URI of the
# first entry of the Debian archive (KIND archive) or its security archive
# (KIND security) in apt's sources LIST and PARTS (apt's lists folder LISTS
# for the Release files; CODENAME: this machine's Debian codename, a suite
# name too).  Exit status 1 when there is none.
proftpd_rs_mirror_from() {
  local kind=$1 list=$2 parts=$3 lists=$4 codename=${5:-}
  local type uri suite comps signed base origin k ok
  local -A debian=()
  for k in $PROFTPD_RS_DEBIAN_SUITES $codename; do debian[$k]=1; done
  while read -r type uri suite comps signed; do
    [[ $type == deb && $uri != cdrom:* ]] || continue
    case $suite in
    */updates) base=${suite%/updates} k=security ;;
    *-security) base=${suite%-security} k=security ;;
    *-backports-sloppy) base=${suite%-backports-sloppy} k=archive ;;
    *-proposed-updates) base=${suite%-proposed-updates} k=archive ;;
    *-updates | *-backports) base=${suite%-*} k=archive ;;
    *) base=$suite k=archive ;;
    esac
    [[ $k == "$kind" ]] || continue
    [[ ,$comps, == *,main,* ]] || continue
    origin=$(proftpd_rs_release_origin "$lists" "$uri" "$suite")
    if [[ -n $origin ]]; then
      # apt knows what it is.
      [[ $origin == Debian ]] || continue
    else
      [[ -n ${debian[$base]:-} ]] || continue
      ok=1
      if [[ $signed != - ]]; then
        ok=0
        [[ $signed == *debian-archive-keyring* || $signed == */debian-archive-* ]] && ok=1
      fi
      ((ok)) || continue
    fi
    echo "${uri%/}"
    return 0
  done < <(proftpd_rs_apt_entries "$list" "$parts")
  return 1
}

# proftpd_rs_mirror [archive|security]: the override, else what apt uses.
proftpd_rs_mirror() {
  local kind=${1:-archive} var list=/etc/apt/sources.list parts=/etc/apt/sources.list.d
  local lists=/var/lib/apt/lists codename=""
  var=PROFTPD_RS_MIRROR
  [[ $kind == security ]] && var=PROFTPD_RS_SECURITY_MIRROR
  if [[ -n ${!var+set} ]]; then
    # Set: that one (set but empty: none, printed as nothing).
    [[ -z ${!var} ]] || echo "${!var%/}"
    return 0
  fi
  if command -v apt-config >/dev/null 2>&1; then
    # Where this machine's apt reads its sources (Dir::Etc may move them).
    eval "$(apt-config shell list Dir::Etc::sourcelist/f parts Dir::Etc::sourceparts/d \
      lists Dir::State::lists/d 2>/dev/null)"
  fi
  if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release && [[ ${ID:-} == debian ]] && echo "${VERSION_CODENAME:-}") || codename=""
  fi
  if proftpd_rs_mirror_from "$kind" "$list" "$parts" "$lists" "$codename"; then
    return 0
  fi
  if [[ $kind == security ]]; then
    echo "no Debian security mirror in apt's sources ($list, $parts): set" \
      "PROFTPD_RS_SECURITY_MIRROR to its URI (empty: none)" >&2
  else
    echo "no Debian mirror in apt's sources ($list, $parts): set PROFTPD_RS_MIRROR" \
      "to the URI of a Debian archive mirror (the one apt uses, a proxy or an offline copy)" >&2
  fi
  return 1
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  case ${1:-} in
  "") ;;
  -h | --help)
    sed -n '2,/^$/{/^$/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
    ;;
  archive | security)
    proftpd_rs_mirror "$1"
    exit
    ;;
  *)
    echo "usage: $0 [archive|security]" >&2
    exit 2
    ;;
  esac
  rc=0
  m=$(proftpd_rs_mirror archive) || rc=1
  echo "mirror ${m:-none}"
  s=$(proftpd_rs_mirror security) || rc=1
  echo "security ${s:-none}"
  exit "$rc"
fi
