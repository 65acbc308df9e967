# Redis from Debian's redis-server package of release SUITE, for
# docker/compose.yaml and the Docker tests (built the same way with or without
# an image registry; scripts/docker-base.sh makes debian:SUITE-slim when
# there is none).  With --build-arg SERVER=valkey: Valkey instead, from
# Debian's valkey-server package (Debian 13 and later; docker/compose.valkey.yaml).
ARG SUITE=bookworm
FROM debian:${SUITE}-slim
ARG SERVER=redis
RUN set -eux; \
    case "$SERVER" in redis|valkey) ;; *) echo "SERVER must be redis or valkey" >&2; exit 1;; esac; \
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$SERVER-server"; \
    rm -f /usr/sbin/policy-rc.d; \
    apt-get clean; rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log; \
    mkdir -p /data; chown "$SERVER:$SERVER" /data; \
    ln -s "/usr/bin/$SERVER-server" /usr/local/bin/kv-server; \
    ln -s "/usr/bin/$SERVER-cli" /usr/local/bin/kv-cli; \
    kv-server --version
VOLUME ["/data"]
WORKDIR /data
EXPOSE 6379
# The server's own user (redis, or valkey).
USER ${SERVER}
# Reachable from the containers of its networks (publish the port only on
# loopback, or not at all); the append-only file in /data keeps the lists
# across restarts.  The server stops cleanly on SIGTERM (docker stop).
# kv-server and kv-cli: redis-server and redis-cli, or Valkey's.
CMD ["kv-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data", \
     "--appendonly", "yes", "--logfile", ""]
