#!/bin/sh
# Checks that `docker compose up` can get every image the compose file names,
# online or air-gapped, by reading the file as compose resolves it
# (`docker compose config`, or `docker-compose config`):
#  - each service's `image:` and each build arg whose name ends in IMAGE (the
#    base a build starts FROM) is either an official image (no '/' in its
#    repository part: redis:7, debian:bookworm-slim) or one the file builds
#    itself (the image of a service with `build:`). Anything else, such as
#    offload/redis:7, no registry has: `up` would end in "pull access denied".
#    A registry host in a name (it has a '/') fails too.
#  - each official one is among those tests/compose/offline-images.sh builds
#    (`--names`), so that with no registry the script makes all of them.
# Prints one line per image, then PASS or FAIL naming each offending image;
# exits 1 on any failure, 2 when compose cannot read the file.
#
# Usage: tests/compose/check-images.sh [COMPOSE_FILE]  (default: the repo's
# docker-compose.yml). Environment: COMPOSE ("docker compose" or
# "docker-compose"; found if unset). Variables the file uses (REDIS_IMAGE,
# BASE_IMAGE, ...) are honoured: unset them to check the file's defaults.
# Needs no docker daemon.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
FILE=${1:-$(cd "$HERE/../.." && pwd)/docker-compose.yml}

if [ -z "${COMPOSE:-}" ]; then
  if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then COMPOSE="docker-compose"
  else echo "check-images: neither 'docker compose' nor 'docker-compose' found" >&2; exit 2; fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# shellcheck disable=SC2086  # COMPOSE may be two words
if ! $COMPOSE -f "$FILE" config >"$tmp/config" 2>"$tmp/err"; then
  cat "$tmp/err" >&2
  echo "check-images: FAIL: '$COMPOSE config' cannot read $FILE" >&2
  exit 2
fi

# The config's YAML, as both compose versions print it (two spaces a level):
#   services:
#     NAME:
#       build:            (a mapping, or a string)
#         args:
#           BASE_IMAGE: debian:bookworm-slim
#       image: redis:7
# becomes lines "SERVICE<TAB>build", "SERVICE<TAB>image<TAB>REF" and
# "SERVICE<TAB>arg NAME<TAB>REF".
awk '
  function unquote(v) {
    sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
    if (v ~ /^".*"$/ || v ~ /^\047.*\047$/) v = substr(v, 2, length(v) - 2)
    return v
  }
  /^[^ #]/ { in_svc = ($0 ~ /^services:[ \t]*$/); svc = ""; next }
  !in_svc { next }
  /^  [^ #][^:]*:[ \t]*$/ { svc = unquote(substr($0, 3, index($0, ":") - 3)); sect = ""; next }
  svc == "" { next }
  /^    [^ ]/ {
    sect = ""
    if ($0 ~ /^    build:/) { print svc "\tbuild"; sect = "build" }
    else if ($0 ~ /^    image:/) { v = $0; sub(/^    image:/, "", v); print svc "\timage\t" unquote(v) }
    next
  }
  sect == "build" && /^      args:[ \t]*$/ { sect = "args"; next }
  sect == "args" && /^        [^ ]/ {
    k = substr($0, 9); v = k
    sub(/:.*/, "", k); sub(/^[^:]*:/, "", v)
    k = unquote(k)
    if (k ~ /IMAGE$/) print svc "\targ " k "\t" unquote(v)
    next
  }
  sect == "args" && /^      [^ ]/ { sect = "build" }
' "$tmp/config" >"$tmp/refs"

# Images built here: the image of every service that has build:.
awk -F'\t' '$2 == "build" { b[$1] = 1 } $2 == "image" { img[$1] = $3 }
            END { for (s in b) if (s in img) print img[s] }' "$tmp/refs" | sort -u >"$tmp/built"
# What offline-images.sh builds (with the same environment as compose saw).
"$HERE/offline-images.sh" --names >"$tmp/offline"

# The repository part of a reference: no @digest, no :tag (a ':' before the
# last '/' is a registry port, part of the repository).
repo_of() {
  r=${1%%@*}
  case ${r##*/} in *:*) r=${r%:*} ;; esac
  printf '%s' "$r"
}

# One line per distinct reference: REF<TAB>where it is named.
awk -F'\t' '$2 != "build" {
    w = ($2 == "image") ? "service " $1 : $1 " build arg " substr($2, 5)
    if (!($3 in where)) { order[++k] = $3; where[$3] = w } else where[$3] = where[$3] ", " w
  }
  END { for (i = 1; i <= k; i++) print order[i] "\t" where[order[i]] }' "$tmp/refs" >"$tmp/uses"

fail=0
services=$(awk -F'\t' '{print $1}' "$tmp/refs" | sort -u | wc -l | tr -d ' ')
n=$(wc -l <"$tmp/uses" | tr -d ' ')
while IFS="$(printf '\t')" read -r ref what; do
  if [ -z "$ref" ]; then
    echo "check-images: FAIL: an empty image name ($what)"; fail=$((fail + 1)); continue
  fi
  if grep -qxF -- "$ref" "$tmp/built"; then
    echo "check-images: ok: $ref ($what): built by the compose file"
    continue
  fi
  repo=$(repo_of "$ref")
  case $repo in
    */*)
      echo "check-images: FAIL: $ref ($what): not an official image (its repository '$repo' has a '/') and not built by the compose file (no service with build: has that image); 'up' would try to pull it: pull access denied, or a private registry"
      fail=$((fail + 1)) ;;
    *)
      if grep -qxF -- "$ref" "$tmp/offline"; then
        echo "check-images: ok: $ref ($what): official image; offline-images.sh builds it when no registry"
      else
        echo "check-images: FAIL: $ref ($what): official, but tests/compose/offline-images.sh does not build it (it builds: $(tr '\n' ' ' <"$tmp/offline")): an air-gapped 'up' would have to pull it"
        fail=$((fail + 1))
      fi ;;
  esac
done <"$tmp/uses"

if [ "$services" = 0 ] || [ "$n" = 0 ]; then
  echo "check-images: FAIL: found no service or no image in '$COMPOSE config' of $FILE"
  exit 1
fi
if [ "$fail" -gt 0 ]; then
  echo "check-images: FAIL: $fail of the $n images named by $FILE (above): fix the file, or what offline-images.sh builds"
  exit 1
fi
echo "check-images: PASS: all $n images named by $services services are official or built by the file: $(awk -F'\t' '{printf "%s%s", (NR > 1 ? ", " : ""), $1}' "$tmp/uses")"
