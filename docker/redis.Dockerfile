# Redis from Debian's redis-server package of release SUITE, for
# docker/compose.yaml and the Docker tests (built the same way with or without
# an image registry; scripts/docker-base.sh makes debian:SUITE-slim when
# there is none).
ARG SUITE=bookworm
FROM debian:${SUITE}-slim
RUN set -eux; \
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server; \
    rm -f /usr/sbin/policy-rc.d; \
    apt-get clean; rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log; \
    mkdir -p /data; chown redis:redis /data; \
    redis-server --version
VOLUME ["/data"]
WORKDIR /data
EXPOSE 6379
USER redis
# Reachable from the containers of its networks (publish the port only on
# loopback, or not at all); the append-only file in /data keeps the lists
# across restarts.  redis-server stops cleanly on SIGTERM (docker stop).
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data", \
     "--appendonly", "yes", "--logfile", ""]
