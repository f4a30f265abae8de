#!/usr/bin/env bash
# Rebuilds the BPF objects from their C source, or with --check, rebuilds them elsewhere and fails unless the result
# is byte for byte the committed object (CI runs that: the object `cargo build` embeds is the one this source makes).
#
# Reproducible by construction: one pinned compiler (Debian 12's clang 14; another version emits other bytes, so it
# is refused rather than allowed to produce a near-miss), fixed flags, relative source paths with the directory
# mapped to ".", and DWARF stripped (the BTF the loader needs stays; it names no directory).
#
# Needs: clang-14, llvm-14 (llvm-strip), libbpf-dev (bpf_helpers.h and friends) — `apt-get install clang-14 llvm-14
# libbpf-dev` on Debian 12.
set -euo pipefail
cd "$(dirname "$0")"

CLANG=${CLANG:-clang-14}
STRIP=${LLVM_STRIP:-llvm-strip-14}
PINNED="Debian clang version 14.0.6"
OBJECTS=(listeners)

version=$("$CLANG" --version | head -n1)
case "$version" in
  "$PINNED"*) ;;
  *) echo "bpf/build.sh: needs $PINNED (found: $version); another compiler emits other bytes" >&2; exit 1 ;;
esac

build() { # source name, output path
  "$CLANG" -target bpf -O2 -g -Wall -Werror -std=gnu11 \
    -mcpu=v3 -fno-ident -ffile-prefix-map="$PWD"=. -fdebug-compilation-dir=. \
    -I . -c "$1.c" -o "$2"
  "$STRIP" --strip-debug "$2"
}

if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  status=0
  for o in "${OBJECTS[@]}"; do
    build "$o" "$tmp/$o.o"
    if cmp -s "$tmp/$o.o" "$o.o"; then
      echo "bpf/$o.o: matches its source"
    else
      echo "bpf/$o.o: differs from what bpf/$o.c builds to; run bpf/build.sh and commit the object" >&2
      status=1
    fi
  done
  exit $status
fi

for o in "${OBJECTS[@]}"; do
  build "$o" "$o.o"
  echo "built bpf/$o.o"
done
