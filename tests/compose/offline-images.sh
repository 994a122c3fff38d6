#!/bin/sh
# Creates, without any container registry, the images docker-compose.yml
# names but does not build, when they are missing, under the very names of the
# official images it pulls when a registry is there (so the same file runs
# online and air-gapped):
#   $BASE_IMAGE  (debian:bookworm-slim)  debootstrap of Debian 12, variant
#                minbase, trimmed like the official slim image, docker import
#   $REDIS_IMAGE (redis:7)               FROM $BASE_IMAGE + apt redis-server
#                (7.0 on Debian 12), runs redis-server as the redis user
# Idempotent: an image that already exists is left alone (whatever its origin,
# so a pulled official image is used as is). The debootstrap result is cached
# as a tarball, so a second machine run or an `docker image rm` rebuild needs
# no download.
#
# Needs root (debootstrap) only when the base image is missing and its cache
# tarball is not there yet. Debian packages come from debootstrap's default
# mirror unless DEBIAN_MIRROR is set.
#
# Environment:
#   BASE_IMAGE            default debian:bookworm-slim
#   REDIS_IMAGE           default redis:7
#   DEBIAN_SUITE          default bookworm
#   DEBIAN_MIRROR         default: debootstrap's own default
#   DEBIAN_SECURITY_MIRROR  apt source for $SUITE-security inside the image;
#                         default: "<mirror>-security" when the mirror path ends
#                         in /debian, else none
#   OFFLOAD_IMAGE_CACHE   cache dir (default /var/cache/offload-images as root,
#                         else ${XDG_CACHE_HOME:-$HOME/.cache}/offload-images)
# Options: --refresh  rebuild both images (and the cached rootfs) from scratch
#          --check    only report what is missing; exit 1 if anything is
#          --names    print the two image names, one a line, and exit
set -eu

BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
REDIS_IMAGE=${REDIS_IMAGE:-redis:7}
SUITE=${DEBIAN_SUITE:-bookworm}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
  CACHE=${OFFLOAD_IMAGE_CACHE:-/var/cache/offload-images}
else
  CACHE=${OFFLOAD_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/offload-images}
fi
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
TARBALL="$CACHE/$SUITE-minbase-$ARCH.tar.gz"

refresh=0 check=0
for a in "$@"; do
  case $a in
    --refresh) refresh=1 ;;
    --check) check=1 ;;
    --names) printf '%s\n' "$BASE_IMAGE" "$REDIS_IMAGE"; exit 0 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "offline-images: unknown argument '$a'" >&2; exit 2 ;;
  esac
done

log() { echo "offline-images: $*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if [ "$check" = 1 ]; then
  rc=0
  for img in "$BASE_IMAGE" "$REDIS_IMAGE"; do
    if have_image "$img"; then log "$img present"; else log "$img missing"; rc=1; fi
  done
  exit $rc
fi

# The Docker CLI >= 23 wants buildx for `docker build` unless BuildKit is off;
# the Dockerfiles here need nothing BuildKit-only, so the classic builder is
# used when buildx is absent.
if [ -z "${DOCKER_BUILDKIT:-}" ] && ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi

# ---- the root filesystem: debootstrap once, cached as a tarball -------------
make_rootfs_tarball() {
  command -v debootstrap >/dev/null 2>&1 || {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing debootstrap"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2 \
        || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2; }
    else
      log "debootstrap is needed (apt-get install debootstrap)"; exit 1
    fi
  }
  [ "$(id -u)" = 0 ] || { log "debootstrap needs root: run this script with sudo once (the result is cached in $CACHE)"; exit 1; }
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT INT TERM
  rootfs="$work/rootfs"
  log "debootstrap --variant=minbase $SUITE (takes a few minutes)"
  # shellcheck disable=SC2086
  debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$rootfs" ${DEBIAN_MIRROR:-} >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }

  # apt sources in the deb822 form the official image uses; the mirror is the
  # one debootstrap used (read back from the file it wrote).
  mirror=$(awk '$1=="deb"{print $2; exit}' "$rootfs/etc/apt/sources.list" 2>/dev/null || true)
  [ -n "$mirror" ] || { log "cannot read the mirror from the debootstrap sources.list"; exit 1; }
  security=${DEBIAN_SECURITY_MIRROR:-}
  if [ -z "$security" ] && [ -z "${DEBIAN_MIRROR:-}" ]; then
    case $mirror in */debian|*/debian/) security="${mirror%/}-security" ;; esac
  fi
  rm -f "$rootfs/etc/apt/sources.list"
  mkdir -p "$rootfs/etc/apt/sources.list.d"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" "$SUITE" "$SUITE"
    if [ -n "$security" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security" "$SUITE"
    fi
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"

  # Keep it slim, now and for every later apt-get install in derived images
  # (the same settings as the official -slim images).
  mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d" "$rootfs/etc/apt/apt.conf.d"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
  # No service may start during a build (redis-server's postinst tries).
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"

  # Trim what the excludes above would have kept out, plus host leftovers.
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/groff/"* "$rootfs/usr/share/info/"* \
         "$rootfs/usr/share/lintian/"* "$rootfs/usr/share/linda/"* "$rootfs/usr/share/locale/"* \
         "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin "$rootfs/var/cache/apt/archives/"*.deb \
         "$rootfs/var/cache/debconf/"*-old "$rootfs/var/lib/dpkg/"*-old "$rootfs/var/log/"*.log \
         "$rootfs/var/log/apt/"* "$rootfs/tmp/"* "$rootfs/root/.bash_history" 2>/dev/null || true
  mkdir -p "$rootfs/var/lib/apt/lists/partial"
  # Docker supplies these at run time.
  : >"$rootfs/etc/resolv.conf"; : >"$rootfs/etc/hostname"; : >"$rootfs/etc/machine-id"
  rm -rf "${rootfs:?}/dev/"* "${rootfs:?}/proc/"* "${rootfs:?}/sys/"* "${rootfs:?}/run/"* 2>/dev/null || true

  tar --numeric-owner --xattrs -C "$rootfs" -czf "$work/rootfs.tar.gz" .
  mv "$work/rootfs.tar.gz" "$TARBALL"
  rm -rf "$work"
  trap - EXIT INT TERM
  log "cached $TARBALL ($(du -h "$TARBALL" | cut -f1))"
}

if [ "$refresh" = 1 ]; then
  log "--refresh: removing $BASE_IMAGE, $REDIS_IMAGE and the cached rootfs"
  docker image rm -f "$REDIS_IMAGE" "$BASE_IMAGE" >/dev/null 2>&1 || true
  rm -f "$TARBALL"
fi

if have_image "$BASE_IMAGE"; then
  log "$BASE_IMAGE present"
else
  if [ -s "$TARBALL" ]; then log "using cached $TARBALL"; else make_rootfs_tarball; fi
  log "docker import -> $BASE_IMAGE"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "offload offline-images.sh: debootstrap --variant=minbase $SUITE" \
    "$TARBALL" "$BASE_IMAGE" >/dev/null
fi

if have_image "$REDIS_IMAGE"; then
  log "$REDIS_IMAGE present"
else
  log "docker build -> $REDIS_IMAGE (FROM $BASE_IMAGE)"
  docker build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$REDIS_IMAGE" "$HERE/redis" >/dev/null
fi
log "ready: $BASE_IMAGE $REDIS_IMAGE"
