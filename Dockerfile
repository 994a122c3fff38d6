# offload: one image for every binary (api, worker, loadgen, slowsvc); the
# command chooses. Builds with the classic builder or BuildKit alike.
#   docker build -t offload .
#   docker build --build-arg BASE_IMAGE=debian:bookworm-slim -t offload .
# With no registry, tests/compose/offline-images.sh makes the base image first.
ARG BASE_IMAGE=debian:bookworm-slim

# ---- build stage: compilers and -dev packages, then the project's Makefile ----
FROM ${BASE_IMAGE} AS build
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        build-essential pkg-config \
        libevent-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN set -eux; \
    make clean >/dev/null; \
    make -j"$(nproc)" build; \
    strip --strip-unneeded bin/api bin/worker bin/loadgen bin/slowsvc; \
    ls -l bin

# ---- runtime stage: the four binaries, their shared libraries, and the task
# examples (python3 runs the serve example, the demo's password-hashing row) ----
FROM ${BASE_IMAGE} AS runtime
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        libevent-2.1-7 libevent-pthreads-2.1-7 libhiredis0.14 libcurl4 libjansson4 \
        python3-minimal libpython3.11-stdlib; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 offload; \
    useradd --system --uid 10001 --gid offload --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin offload
COPY --from=build /src/bin/api /src/bin/worker /src/bin/loadgen /src/bin/slowsvc /opt/offload/bin/
COPY docker/offload-check docker/offload-demo /opt/offload/bin/
COPY --from=build /src/bin/plugins/hello.so /opt/offload/plugins/
COPY examples /opt/offload/examples
# Fails the build if a shared library is missing from the runtime stage.
RUN set -eux; \
    for b in api worker loadgen slowsvc; do \
        if ldd /opt/offload/bin/$b | grep 'not found'; then exit 1; fi; \
        /opt/offload/bin/$b --version; \
    done; \
    printf '{"id":"x","task":"hash_password","args":{"password":"p","iterations":1000}}\n' | \
        PYTHONDONTWRITEBYTECODE=1 python3 /opt/offload/examples/python/tasks.py | grep -q '"hash"' 
ENV PATH=/opt/offload/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1
USER offload:offload
WORKDIR /tmp
EXPOSE 8080 8081
# api: GET /healthz; slowsvc: its port opens; worker and loadgen: the process
# is there. offload-check finds which binary this container runs.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 CMD ["offload-check"]
CMD ["api", "--listen", "0.0.0.0:8080"]
