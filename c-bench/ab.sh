#!/usr/bin/env bash
# Compares two builds of libferrymap.so on the integer paths (c-bench/int_paths.c):
# runs each ROUNDS times, alternating, and prints the best and every figure.
# On a shared machine the best of several interleaved runs is the steadiest
# figure; absolute numbers still move with the host, ratios less so.
# Usage: c-bench/ab.sh DIR_A DIR_B MODE N COUNT   (DIR_*: folders holding a libferrymap.so)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 5 ] || { echo "usage: $0 DIR_A DIR_B get|get_many|insert|reserved N COUNT" >&2; exit 2; }
a=$1 b=$2
shift 2
mkdir -p target/c-bench
# The program asks for the library's soname (libferrymap.so.0 since 0.1.0).
for d in "$a" "$b"; do
    [ -e "$d/libferrymap.so.0" ] || ln -s libferrymap.so "$d/libferrymap.so.0"
done
gcc -std=c11 -O2 -Wall -Wextra -Werror -Ibindings/c c-bench/int_paths.c \
    -L"$a" -lferrymap -o target/c-bench/int_paths
for _ in $(seq "${ROUNDS:-7}"); do
    for side in A B; do
        dir=$a
        [ "$side" = B ] && dir=$b
        LD_LIBRARY_PATH=$dir target/c-bench/int_paths "$@" | awk -v s="$side" '{print s, $3}'
    done
done | sort -k1,1 -k2,2n | awk '
    { all[$1] = all[$1] " " $2; if (!($1 in best)) best[$1] = $2 }
    END { for (s in best) printf "%s best %s ns/op; all:%s\n", s, best[s], all[s] }' | sort
