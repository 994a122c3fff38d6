#!/bin/sh
# `make test-k8s`: checks deploy/k8s offline, with no cluster.
#  1. `go test` in tools/k8s-validate: the project's manifests pass, and ~30
#     copies broken one way each (an unknown field, a selector that misses
#     its pods, a grace period below the job timeout, a wrong queue key, KEDA
#     and the HPA together, ...) are each refused for that reason;
#  2. builds tools/k8s-validate and runs it on both variants, deploy/k8s
#     (KEDA) and deploy/k8s/hpa (the CPU HPA): kustomize's own library builds
#     each as `kubectl apply -k` would, every object is decoded strictly into
#     its k8s.io/api type, then offload's rules are checked across them;
#  3. runs the built command on a copy with an unknown field, which must exit 1,
#     so a validator that passes everything fails this script.
# Needs Go (/usr/local/go/bin/go or go in PATH); its modules come from the Go
# module proxy into the default module cache on the first run (then ~5 s).
# Without Go (or its modules) it fails, unless K8S_SKIP_UNAVAILABLE=1 (make test).
# Environment: BUILD (build), where the command is built.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
: "${BUILD:=build}"
case $BUILD in /*) out=$BUILD ;; *) out=$root/$BUILD ;; esac

# Unavailable: Go or its modules cannot be had on this machine. Alone, that
# fails; with K8S_SKIP_UNAVAILABLE=1 (what `make test` sets, as .ci/run does
# for Chromium and Toxiproxy) it says SKIPPED loudly and exits 0 — the
# manifests are not judged by a machine that cannot run the judge.
unavailable() {
    if [ "${K8S_SKIP_UNAVAILABLE:-0}" = 1 ]; then
        echo "check-k8s: SKIPPED: $1 (run make test-k8s where Go and its module proxy are reachable)" >&2
        exit 0
    fi
    echo "check-k8s: $1" >&2
    exit 1
}

go=$(command -v go 2>/dev/null || true)
[ -n "$go" ] || [ ! -x /usr/local/go/bin/go ] || go=/usr/local/go/bin/go
[ -n "$go" ] || unavailable "Go not found (neither go in PATH nor /usr/local/go/bin/go): it builds tools/k8s-validate"
(cd tools/k8s-validate && "$go" mod download) ||
    unavailable "the Go modules of tools/k8s-validate could not be downloaded (go mod download failed)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "check-k8s: go test tools/k8s-validate ($("$go" version | cut -d' ' -f3))"
# -count=1: go's test cache does not notice edits to the manifests (they are
# outside the Go module), and the test must see the current ones.
(cd tools/k8s-validate && "$go" test -count=1 ./...)

mkdir -p "$out"
(cd tools/k8s-validate && "$go" build -buildvcs=false -o "$out/k8s-validate" .)
"$out/k8s-validate" -external-secret offload-api-token deploy/k8s deploy/k8s/hpa

cp -R deploy/k8s "$tmp/k8s"
sed 's/readinessProbe:/readinessProbes:/' deploy/k8s/base/api.yaml >"$tmp/k8s/base/api.yaml"
if "$out/k8s-validate" -external-secret offload-api-token "$tmp/k8s" >"$tmp/out" 2>&1; then
    echo "check-k8s: k8s-validate accepted a manifest with an unknown field:" >&2
    cat "$tmp/out" >&2
    exit 1
fi
grep -q 'unknown field "spec.template.spec.containers\[0\].readinessProbes"' "$tmp/out" || {
    echo "check-k8s: k8s-validate refused the broken copy, but not for its unknown field:" >&2
    cat "$tmp/out" >&2
    exit 1
}
echo "check-k8s: a broken copy is refused (exit 1, unknown field named); deploy/k8s ok"
