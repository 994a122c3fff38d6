#!/bin/sh
# Checks that the code's modules depend one way: no include loop between
# modules (a module is a .c with its .h, e.g. api/jobs), and no include
# across the binaries' folders except into common/ and include/ (api/,
# worker/, loadgen/ and cli/ share only those; common/ includes none of them).
# Usage: tools/check-includes.sh [DIR]   (default: the repository root)
# Prints each problem and exits 1, or prints one line and exits 0.
set -eu
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# "from to" module pairs from every quoted include with a folder part
for f in api/*.[ch] common/*.[ch] worker/*.[ch] loadgen/*.[ch] cli/*.[ch]; do
    [ -e "$f" ] || continue
    from=${f%.*}
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z]*\/[^"]*\)\.h".*/\1/p' "$f" |
        while IFS= read -r to; do
            [ "$to" = "$from" ] || echo "$from $to $f"
        done
done > "$tmp/edges"

bad=0
# across folders: only into common/
while read -r from to file; do
    case "$to" in common/* | include/*) continue ;; esac  # include/: the public plugin header
    if [ "${from%%/*}" != "${to%%/*}" ]; then
        echo "check-includes: $file includes $to.h: ${from%%/*}/ may include only its own folder and common/"
        bad=1
    fi
done < "$tmp/edges"

# loops: tsort names the modules of each loop it finds on stderr
cut -d' ' -f1,2 "$tmp/edges" | sort -u > "$tmp/pairs"
if ! tsort "$tmp/pairs" > /dev/null 2> "$tmp/loops"; then
    echo "check-includes: include loops between modules (each includes the next, through its .c or .h):"
    sed -n 's/^tsort: //p' "$tmp/loops" | sed 's/^.*input contains a loop:$/  loop:/; s/^\([^ ]\)/    \1/'
    bad=1
fi

if [ "$bad" -ne 0 ]; then
    exit 1
fi
echo "check-includes: $(wc -l < "$tmp/pairs") module dependencies, no loops, folders depend only on common/ and include/"
