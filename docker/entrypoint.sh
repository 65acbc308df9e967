#!/bin/sh
# Start of the proftpd-rs container (under tini, PID 1): users and settings
# from the environment, then proftpd in the foreground (--nodaemon).
#
# Users (nothing of them is in the image):
#   /etc/proftpd/ftpd.passwd    an AuthUserFile mounted read-only (passwd(5)
#                               lines, crypt(3) hashes; ftpasswd makes them),
#                               with /etc/proftpd/ftpd.group if you have one;
#   FTP_USER + FTP_PASSWORD     or one user from the environment (or
#     (or FTP_PASSWORD_FILE)    FTP_PASSWORD_FILE, e.g. a Docker secret),
#     FTP_UID, FTP_GID          uid/gid (default 1000), home /srv/ftp/USER;
#                               the password is hashed (SHA-512 crypt) into a
#                               file under /run and removed from the environment.
#   Missing home directories are created, owned by the user.
# Settings:
#   FTP_PASSIVE_PORTS           "first last" (default "30000 30009"; publish them)
#   FTP_MASQUERADE_ADDRESS      the address PASV replies give (the host's), if set
#   REDIS_SERVER                host[:port] of Redis ([IPv6]:port, or a socket's
#                               path): mod_redis logs every event
#                               there (list "proftpd"), mod_ban caches its bans there;
#                               unset: no Redis
#   REDIS_PASSWORD (or REDIS_PASSWORD_FILE), REDIS_DB
#   REDIS_SPOOL                 a directory (mount a volume there) where events
#                               Redis cannot take wait until it can
#                               (RedisLogSpool); made root's, mode 0700;
#                               with REDIS_SERVER only; unset: no spool
#   REDIS_SPOOL_MAX_SIZE        its bound: bytes, or a number with K, M or G
#                               (default 256M)
#   PROFTPD_STOP_WAIT           seconds to wait, after proftpd's master has
#                               stopped, for its sessions to write their last
#                               records (default 8, under docker stop's 10)
# Your own configuration: /etc/proftpd/conf.d/*.conf (read last).
# Every value is checked before anything is written (a user name, numbers,
# ports, an address, host[:port]; no line breaks or quotes); a wrong one stops
# the container with a message that names the variable and what it expects.
#
# Arguments: none, or options (-d 10 ...), run proftpd with them; anything else
# is run instead of proftpd after the set-up (e.g. "proftpd -vv", "proftpd -t").
set -eu

say() { echo "proftpd-rs-entrypoint: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# --- the environment, checked before anything is written ------------------------
# Its values go into configuration files (settings.conf, the users file),
# where a line break, a quote or a ':' would add directives or fields.  So
# each is checked against what it may be; a wrong one stops the container
# with a message naming the variable and what it expects, never the value
# (it may be a password).

nl='
'
cr=$(printf '\r')

# is_number VALUE MIN MAX: decimal digits (no sign, no leading zero) in [MIN, MAX].
is_number() {
  case $1 in '' | *[!0-9]* | 0?*) return 1 ;; esac
  [ ${#1} -le 10 ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

# secret NAME: $NAME, or the content of the file $NAME_FILE (trailing line
# breaks dropped); not both.
secret() {
  eval "v=\${$1:-} f=\${$1_FILE:-}"
  # shellcheck disable=SC2154 # set by eval
  if [ -n "$v" ] && [ -n "$f" ]; then
    die "set $1 or $1_FILE, not both"
  fi
  if [ -n "$f" ]; then
    if [ ! -f "$f" ] || [ ! -r "$f" ]; then
      case $f in
      *[!A-Za-z0-9._/-]*) die "$1_FILE: not a readable file" ;;
      *) die "$1_FILE: $f is not a readable file" ;;
      esac
    fi
    v=$(cat "$f")
  fi
  printf '%s' "$v"
}

if [ -n "${FTP_USER:-}" ]; then
  case $FTP_USER in
  *[!A-Za-z0-9._-]* | [-.]*)
    die "FTP_USER: a user name of letters, digits, '.', '_' and '-' (not first: '-' or '.')"
    ;;
  esac
  [ ${#FTP_USER} -le 32 ] || die "FTP_USER: at most 32 characters"
  pw=$(secret FTP_PASSWORD)
  [ -n "$pw" ] || die "FTP_USER is set but FTP_PASSWORD (or FTP_PASSWORD_FILE) is empty"
  case $pw in
  *"$nl"* | *"$cr"*)
    die "FTP_PASSWORD (or FTP_PASSWORD_FILE's content): no line break or carriage return inside (an FTP client cannot send one; a file with Windows line ends?)"
    ;;
  esac
fi
for v in FTP_UID FTP_GID; do
  eval "x=\${$v:-}"
  # shellcheck disable=SC2154 # set by eval
  [ -z "$x" ] || is_number "$x" 1 2147483647 ||
    die "$v: a number from 1 to 2147483647 (not 0: proftpd refuses root logins)"
done

two_ports() { # FIRST LAST: "FIRST LAST", if both are ports from 1024, FIRST <= LAST
  [ $# -eq 2 ] && is_number "$1" 1024 65535 && is_number "$2" "$1" 65535 && echo "$1 $2"
}
passive=${FTP_PASSIVE_PORTS:-30000 30009}
case $passive in
*[!0-9\ ]*) passive="" ;;
*)
  # shellcheck disable=SC2086 # two words
  passive=$(two_ports $passive) || passive=""
  ;;
esac
[ -n "$passive" ] ||
  die "FTP_PASSIVE_PORTS: the first and the last port of the range, from 1024 to 65535, e.g. \"30000 30009\""

if [ -n "${FTP_MASQUERADE_ADDRESS:-}" ]; then
  case $FTP_MASQUERADE_ADDRESS in
  *[!A-Za-z0-9.:-]* | -*)
    die "FTP_MASQUERADE_ADDRESS: an IP address or a DNS name (letters, digits, '.', ':' and '-')"
    ;;
  esac
  [ ${#FTP_MASQUERADE_ADDRESS} -le 253 ] || die "FTP_MASQUERADE_ADDRESS: at most 253 characters"
fi

if [ -n "${REDIS_SERVER:-}" ]; then
  # host, host:port, [IPv6], [IPv6]:port, or the path of a Unix socket
  redis_host=$REDIS_SERVER redis_port=none
  case $REDIS_SERVER in
  /*) redis_host=socket ;;
  \[*\]:*) redis_host=${REDIS_SERVER%:*} redis_port=${REDIS_SERVER##*:} ;;
  \[*\]) ;;
  *:*:* | \[* | *\]*) redis_host="" ;;
  *:*) redis_host=${REDIS_SERVER%:*} redis_port=${REDIS_SERVER##*:} ;;
  esac
  case $REDIS_SERVER in
  /*) case $REDIS_SERVER in *[!A-Za-z0-9._/-]*) redis_host="" ;; esac ;;
  \[*) case $redis_host in \[*[!0-9A-Fa-f:.]*\]) redis_host="" ;; esac ;;
  *) case $redis_host in '' | *[!A-Za-z0-9._-]* | -*) redis_host="" ;; esac ;;
  esac
  if [ -z "$redis_host" ] || [ ${#REDIS_SERVER} -gt 261 ] ||
    { [ "$redis_port" != none ] && ! is_number "$redis_port" 1 65535; }; then
    die "REDIS_SERVER: host[:port] (a DNS name or an IPv4 address), [IPv6][:port], or a Unix socket's path; a port from 1 to 65535"
  fi
  rpw=$(secret REDIS_PASSWORD)
  case $rpw in
  *[\"\\]* | *"$nl"* | *"$cr"*)
    die "REDIS_PASSWORD (or REDIS_PASSWORD_FILE's content): no quotes, backslashes or line breaks"
    ;;
  esac
  [ -z "${REDIS_DB:-}" ] || is_number "$REDIS_DB" 0 2147483647 ||
    die "REDIS_DB: a database number (0, 1, ...)"
fi

if [ -n "${REDIS_SPOOL:-}" ]; then
  # An absolute path of plain names, not in the system's own directories
  # (the entrypoint makes it root's and mode 0700).
  case $REDIS_SPOOL in
  /*/*[!/]*) spool_ok=1 ;;
  *) spool_ok=0 ;;
  esac
  case $REDIS_SPOOL in
  *[!A-Za-z0-9._/-]* | *//* | */./* | */../* | */. | */.. | */) spool_ok=0 ;;
  /bin/* | /boot/* | /dev/* | /etc/* | /lib/* | /lib32/* | /lib64/* | /libx32/* | /proc/* | /sbin/* | /sys/* | /usr/*) spool_ok=0 ;;
  esac
  [ ${#REDIS_SPOOL} -le 200 ] || spool_ok=0
  [ "$spool_ok" = 1 ] ||
    die "REDIS_SPOOL: an absolute path of a directory, at least two levels deep, e.g. /var/spool/proftpd-redis (letters, digits, '.', '_', '-' and '/'; not under /bin, /boot, /dev, /etc, /lib*, /proc, /sbin, /sys, /usr)"
  [ -n "${REDIS_SERVER:-}" ] ||
    die "REDIS_SPOOL: set REDIS_SERVER too (the spool keeps events for that Redis)"
fi
if [ -n "${REDIS_SPOOL_MAX_SIZE:-}" ]; then
  case $REDIS_SPOOL_MAX_SIZE in
  [1-9] | [1-9][0-9]* | [1-9][KkMmGg] | [1-9]*[0-9][KkMmGg]) spool_ok=1 ;;
  *) spool_ok=0 ;;
  esac
  case ${REDIS_SPOOL_MAX_SIZE%[KkMmGg]} in *[!0-9]*) spool_ok=0 ;; esac
  [ ${#REDIS_SPOOL_MAX_SIZE} -le 10 ] || spool_ok=0
  [ "$spool_ok" = 1 ] ||
    die "REDIS_SPOOL_MAX_SIZE: bytes, or a number with K, M or G (e.g. 256M)"
  [ -n "${REDIS_SPOOL:-}" ] || die "REDIS_SPOOL_MAX_SIZE: set REDIS_SPOOL too"
fi

[ -z "${PROFTPD_STOP_WAIT:-}" ] || is_number "$PROFTPD_STOP_WAIT" 0 3600 ||
  die "PROFTPD_STOP_WAIT: seconds, a number from 0 to 3600"
stop_wait=${PROFTPD_STOP_WAIT:-8}

run=/run/proftpd-rs
umask 077
mkdir -p "$run" /run/proftpd /var/log/proftpd /srv/ftp
chmod 0755 "$run" /run/proftpd /var/log/proftpd
if [ -n "${REDIS_SPOOL:-}" ]; then
  # RedisLogSpool wants a directory of root's that nobody else may write;
  # proftpd's sessions open it as root before they leave root's privileges.
  if ! { mkdir -p "$REDIS_SPOOL" && chown root:root "$REDIS_SPOOL" && chmod 0700 "$REDIS_SPOOL"; }; then
    die "REDIS_SPOOL: cannot make $REDIS_SPOOL a directory of root's, mode 0700"
  fi
fi

# --- users ----------------------------------------------------------------------

users=/etc/proftpd/ftpd.passwd
groups=/etc/proftpd/ftpd.group
from_env=0
if [ -n "${FTP_USER:-}" ]; then
  uid=${FTP_UID:-1000} gid=${FTP_GID:-${FTP_UID:-1000}}
  salt=$(tr -dc 'A-Za-z0-9./' </dev/urandom | head -c 16)
  # crypt(3) of perl-base (essential): the password goes through the
  # environment, never a command line.
  hash=$(PW=$pw SALT=$salt perl -e 'print crypt($ENV{PW}, "\$6\$$ENV{SALT}\$")')
  case $hash in
  "\$6\$"*) ;;
  *) die "cannot hash the password (crypt)" ;;
  esac
  users=$run/ftpd.passwd from_env=1
  printf '%s:%s:%s:%s::/srv/ftp/%s:/usr/sbin/nologin\n' \
    "$FTP_USER" "$hash" "$uid" "$gid" "$FTP_USER" >"$users"
  unset pw hash
fi
unset FTP_PASSWORD FTP_PASSWORD_FILE

# mod_auth_file refuses a world-readable AuthUserFile; a mounted one often
# is (and cannot be changed when read-only): use a private copy.
if [ "$users" = /etc/proftpd/ftpd.passwd ] && [ -f "$users" ]; then
  mode=$(stat -c %a "$users")
  case $mode in
  *[4567])
    say "warning: $users is world-readable (mode $mode); using a private copy (chmod o-r it where it comes from)"
    cp "$users" "$run/ftpd.passwd"
    chmod 0600 "$run/ftpd.passwd"
    users=$run/ftpd.passwd
    ;;
  esac
fi

if [ ! -f "$groups" ] || [ "$from_env" = 1 ]; then
  # One group per gid of the users file (ftp<gid>).
  groups=$run/ftpd.group
  if [ -r "$users" ]; then
    awk -F: 'NF >= 4 && !seen[$4]++ { print "ftp" $4 ":x:" $4 ":" }' "$users" >"$groups"
  else
    : >"$groups"
  fi
fi
[ "$groups" != "$run/ftpd.group" ] || chmod 0644 "$groups"
[ "$users" != "$run/ftpd.passwd" ] || chmod 0600 "$users"

if [ -r "$users" ]; then
  awk -F: 'NF >= 7 && $1 !~ /^#/ { print $3, $4, $6 }' "$users" |
    while read -r uid gid home; do
      case $home in /*) ;; *) continue ;; esac
      if [ ! -d "$home" ]; then
        mkdir -p "$home"
        chown "$uid:$gid" "$home"
        chmod 0750 "$home"
      fi
    done
fi

# --- settings ---------------------------------------------------------------------

{
  echo "# made by proftpd-rs-entrypoint from the environment at container start"
  # (proftpd refuses an AuthUserFile that does not exist: without users,
  # only commands like proftpd -vv run, see below)
  if [ -f "$users" ]; then
    echo "AuthUserFile $users"
    echo "AuthGroupFile $groups"
  fi
  echo "PassivePorts $passive"
  [ -z "${FTP_MASQUERADE_ADDRESS:-}" ] || echo "MasqueradeAddress $FTP_MASQUERADE_ADDRESS"
  if [ -n "${REDIS_SERVER:-}" ]; then
    line="RedisServer $REDIS_SERVER"
    if [ -n "$rpw" ] || [ -n "${REDIS_DB:-}" ]; then
      line="$line \"\" \"$rpw\""
      [ -z "${REDIS_DB:-}" ] || line="$line $REDIS_DB"
    fi
    echo "<IfModule mod_redis.c>"
    echo "  RedisEngine on"
    echo "  $line"
    [ -z "${REDIS_SPOOL:-}" ] || echo "  RedisLogSpool $REDIS_SPOOL ${REDIS_SPOOL_MAX_SIZE:-}"
    echo "</IfModule>"
    echo "<IfModule mod_ban.c>"
    echo "  BanCache redis"
    echo "</IfModule>"
    unset rpw line
  else
    echo "<IfModule mod_redis.c>"
    echo "  RedisEngine off"
    echo "</IfModule>"
  fi
} >"$run/settings.conf"
unset REDIS_PASSWORD REDIS_PASSWORD_FILE
chmod 0600 "$run/settings.conf"

# --- run --------------------------------------------------------------------------

case ${1:-} in
'' | -*) ;;
*) exec "$@" ;;
esac

[ -s "$users" ] || die "no FTP users: mount an AuthUserFile at /etc/proftpd/ftpd.passwd, or set FTP_USER and FTP_PASSWORD"

# proftpd starts even when an included file has a fatal error (it only
# warns that it could not include it), e.g. without its users: refuse that.
check=$(proftpd -t "$@" 2>&1 >/dev/null) || die "proftpd -t failed: $check"
case $check in
*"fatal:"* | *"unable to include"*) die "configuration error: $check" ;;
esac

# proftpd's master stops on SIGTERM after sending SIGTERM to its sessions,
# without waiting for them; tini (PID 1) would then exit and the kernel kill
# the sessions in the middle of their last records.  So this shell stays
# between them: it passes signals to the master and, once it has exited,
# waits for the sessions (PROFTPD_STOP_WAIT seconds at most).
umask 022
proftpd --nodaemon "$@" &
master=$!
trap 'kill -TERM "$master" 2>/dev/null || true' TERM INT QUIT
trap 'kill -HUP "$master" 2>/dev/null || true' HUP
trap 'kill -USR2 "$master" 2>/dev/null || true' USR2
rc=0
while :; do
  rc=0
  wait "$master" || rc=$?
  kill -0 "$master" 2>/dev/null || break
done

sessions() { # pids of the proftpd processes left (zombies wait for tini)
  for d in /proc/[0-9]*; do
    read -r comm 2>/dev/null <"$d/comm" || continue
    [ "$comm" = proftpd ] || continue
    read -r stat 2>/dev/null <"$d/stat" || continue
    state=${stat##*) }
    [ "${state%% *}" = Z ] || echo "${d#/proc/}"
  done
}
deadline=$(($(date +%s) + stop_wait))
while [ -n "$(sessions)" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  sleep 0.1
done
left=$(sessions | tr '\n' ' ')
[ -z "$left" ] || say "sessions still running after $stop_wait s: $left"
exit "$rc"
