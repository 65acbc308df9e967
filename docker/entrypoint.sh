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
#   REDIS_SERVER                host[:port] of Redis: mod_redis logs every event
#                               there (list "proftpd"), mod_ban caches its bans there;
#                               unset: no Redis
#   REDIS_PASSWORD (or REDIS_PASSWORD_FILE), REDIS_DB
#   PROFTPD_STOP_WAIT           seconds to wait, after proftpd's master has
#                               stopped, for its sessions to write their last
#                               records (default 8, under docker stop's 10)
# Your own configuration: /etc/proftpd/conf.d/*.conf (read last).
#
# Arguments: none, or options (-d 10 ...), run proftpd with them; anything else
# is run instead of proftpd after the set-up (e.g. "proftpd -vv", "proftpd -t").
set -eu

say() { echo "proftpd-rs-entrypoint: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

run=/run/proftpd-rs
umask 077
mkdir -p "$run" /run/proftpd /var/log/proftpd /srv/ftp
chmod 0755 "$run" /run/proftpd /var/log/proftpd

# --- users ----------------------------------------------------------------------

secret() { # NAME: $NAME, or the content of the file $NAME_FILE
  eval "v=\${$1:-} f=\${$1_FILE:-}"
  # shellcheck disable=SC2154 # set by eval
  if [ -z "$v" ] && [ -n "$f" ]; then
    [ -r "$f" ] || die "$1_FILE=$f is not readable"
    v=$(cat "$f")
  fi
  printf '%s' "$v"
}

users=/etc/proftpd/ftpd.passwd
groups=/etc/proftpd/ftpd.group
from_env=0
if [ -n "${FTP_USER:-}" ]; then
  case $FTP_USER in
  *[!A-Za-z0-9._-]* | -*) die "FTP_USER: letters, digits, '.', '_' and '-' only" ;;
  esac
  pw=$(secret FTP_PASSWORD)
  [ -n "$pw" ] || die "FTP_USER is set but FTP_PASSWORD (or FTP_PASSWORD_FILE) is empty"
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

passive=${FTP_PASSIVE_PORTS:-30000 30009}
case $passive in
*[!0-9\ ]*) die "FTP_PASSIVE_PORTS: two port numbers, e.g. \"30000 30009\"" ;;
esac
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
    case $REDIS_SERVER in
    *[\ \"\\]*) die "REDIS_SERVER: host[:port]" ;;
    esac
    rpw=$(secret REDIS_PASSWORD)
    nl='
'
    case $rpw in
    *[\"\\]* | *"$nl"*) die "REDIS_PASSWORD: no quotes, backslashes or newlines" ;;
    esac
    line="RedisServer $REDIS_SERVER"
    if [ -n "$rpw" ] || [ -n "${REDIS_DB:-}" ]; then
      line="$line \"\" \"$rpw\""
      [ -z "${REDIS_DB:-}" ] || line="$line $REDIS_DB"
    fi
    echo "<IfModule mod_redis.c>"
    echo "  RedisEngine on"
    echo "  $line"
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
deadline=$(($(date +%s) + ${PROFTPD_STOP_WAIT:-8}))
while [ -n "$(sessions)" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  sleep 0.1
done
left=$(sessions | tr '\n' ' ')
[ -z "$left" ] || say "sessions still running after ${PROFTPD_STOP_WAIT:-8} s: $left"
exit "$rc"
