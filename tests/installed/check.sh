#!/usr/bin/env bash
# The checks of the installed packages suite, run by scripts/test-installed
# inside its work directory (outside the repository), with no cargo on PATH
# and no environment variable pointing into the checkout. It uses only:
#
#   dist/        the artifacts of scripts/package (copied)
#   src/         these test programs (copied from tests/installed)
#   gomod/       the Go module's source (copied out of bindings/go)
#   bumped/      a library built as version 1.0.0 (soname libferrymap.so.1)
#   m2/          the temporary Maven local repository
#
# Prints one PASS/FAIL line per check and "N passed, M failed"; exits non-zero
# if any failed.
set -uo pipefail
work="$(pwd)"
version="$1"
platform="$2"
passed=0
failed=0
log="$work/logs"
mkdir -p "$log"

# check NAME COMMAND...: runs COMMAND, output to logs/NAME.log.
check() {
    local name="$1"
    shift
    if "$@" >"$log/$name.log" 2>&1; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/    | /' "$log/$name.log" | tail -n 30
        failed=$((failed + 1))
    fi
}

# expect_fail NAME PATTERN COMMAND...: COMMAND must fail and print PATTERN (grep -E).
expect_fail() {
    local name="$1" pattern="$2"
    shift 2
    if "$@" >"$log/$name.log" 2>&1; then
        echo "FAIL $name (succeeded; it must fail)"
        sed 's/^/    | /' "$log/$name.log" | tail -n 30
        failed=$((failed + 1))
    elif grep -Eq -- "$pattern" "$log/$name.log"; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name (failed without saying /$pattern/)"
        sed 's/^/    | /' "$log/$name.log" | tail -n 30
        failed=$((failed + 1))
    fi
}

# in_dir OUTPUT DIR: the path= line of OUTPUT names a file in DIR (after
# resolving symlinks and the ../ of a relocatable ferrymap.pc).
in_dir() {
    local p
    p="$(sed -n 's/^path=//p' <<<"$1")"
    [ -n "$p" ] && [ "$(readlink -f "$(dirname "$p")")" = "$(readlink -f "$2")" ]
}

# The suite's own conditions.
conditions() {
    if command -v cargo || command -v rustc; then
        echo "a Rust toolchain is on PATH"
        return 1
    fi
    case "$work" in /tmp/* | /var/tmp/*) ;; *) echo "work directory $work is not a temporary one" && return 1 ;; esac
    env
}
check conditions conditions

# ---- 1. C: the tarball as a prefix; pkg-config; rpath; dlopen by soname ----
prefix="$work/c/ferrymap-$version-$platform"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"

c_unpack() {
    mkdir -p "$work/c" && tar -xzf "$work/dist/ferrymap-$version-$platform.tar.gz" -C "$work/c" || return 1
    [ -f "$prefix/include/ferrymap.h" ] && [ -f "$prefix/lib/libferrymap.so.$version" ] || return 1
    [ "$(readlink "$prefix/lib/libferrymap.so.0")" = "libferrymap.so.$version" ] || return 1
    [ "$(readlink "$prefix/lib/libferrymap.so")" = "libferrymap.so.0" ] || return 1
    readelf -dW "$prefix/lib/libferrymap.so.$version" | grep -F '[libferrymap.so.0]' | grep SONAME >/dev/null
}
check c_tarball_layout c_unpack

c_pkgconfig() {
    pkg-config --modversion ferrymap | grep -x "$version" >/dev/null || return 1
    pkg-config --cflags --libs ferrymap
    # The only compile and link flags: what pkg-config says.
    cc -std=c11 -Wall -Wextra -Werror "$work/src/c/hello.c" $(pkg-config --cflags --libs ferrymap) -o "$work/c/hello" &&
        readelf -dW "$work/c/hello" | grep NEEDED | grep 'libferrymap.so.0' >/dev/null &&
        "$work/c/hello" "$prefix/lib/"
}
check c_pkgconfig_build_and_run c_pkgconfig

c_moved() {
    mkdir -p "$work/elsewhere" && cp "$work/c/hello" "$work/elsewhere/hello" &&
        (cd / && "$work/elsewhere/hello" "$prefix/lib/")
}
check c_binary_moved_still_runs c_moved

c_dlopen() {
    cc -std=c11 -Wall -Wextra -Werror "$work/src/c/dlopen_soname.c" $(pkg-config --cflags ferrymap) -ldl \
        -o "$work/c/dlopen_soname" || return 1
    LD_LIBRARY_PATH="$prefix/lib" "$work/c/dlopen_soname" | tee /dev/stderr | grep " -> $prefix/lib/libferrymap.so.0," >/dev/null
}
check c_dlopen_by_soname c_dlopen
# Without a search path, nothing on this machine answers to the soname: the
# run above found it through LD_LIBRARY_PATH, not a stray system copy.
expect_fail c_dlopen_needs_a_search_path "libferrymap.so.0: cannot open shared object file" "$work/c/dlopen_soname"

# ---- 6 (C). Another major version is refused ----
# Linked programs ask for libferrymap.so.0; a 1.x library is libferrymap.so.1
# and never answers to it.
c_no_rpath() {
    cc -std=c11 "$work/src/c/hello.c" $(pkg-config --cflags ferrymap) -L"$prefix/lib" -lferrymap -o "$work/c/hello-norpath" &&
        LD_LIBRARY_PATH="$work/bumped" "$work/c/hello-norpath"
}
expect_fail c_other_major_soname_not_loaded "libferrymap.so.0: cannot open shared object file" c_no_rpath
# A 1.x file under the 0.x name (a broken install) fails the handshake.
mkdir -p "$work/bumped-as-0" && cp "$work/bumped/libferrymap.so.1" "$work/bumped-as-0/libferrymap.so.0"
expect_fail c_other_major_handshake "is ferrymap 1\.0\.0, but this program was built against ferrymap\.h $version" \
    env LD_LIBRARY_PATH="$work/bumped-as-0" "$work/c/dlopen_soname"

# ---- 3. Java: a consumer project that names only the coordinates ----
m2="$work/m2"
jar="$m2/dev/ferrymap/ferrymap/$version/ferrymap-$version.jar"
mvn_q() { mvn -B -ntp -q -Dstyle.color=never -Dmaven.repo.local="$m2" "$@"; }

java_install() {
    mvn_q org.apache.maven.plugins:maven-install-plugin:3.1.3:install-file \
        -Dfile="$work/dist/ferrymap-$version.jar" -DpomFile="$work/dist/ferrymap-$version.pom" \
        -Dsources="$work/dist/ferrymap-$version-sources.jar" -Djavadoc="$work/dist/ferrymap-$version-javadoc.jar" &&
        ls -l "$m2/dev/ferrymap/ferrymap/$version/" &&
        [ -f "$jar" ] && [ -f "$m2/dev/ferrymap/ferrymap/$version/ferrymap-$version-sources.jar" ] &&
        [ -f "$m2/dev/ferrymap/ferrymap/$version/ferrymap-$version-javadoc.jar" ]
}
check java_install_into_local_repository java_install

java_build() {
    cp -r "$work/src/java" "$work/java-consumer" && (cd "$work/java-consumer" && mvn_q compile)
}
check java_consumer_project_builds java_build

# The class path: the consumer's classes and the artifact Maven resolved.
run_java() { java -cp "$work/java-consumer/target/classes:$jar" "$@" consumer.Main; }
java_plain() {
    # No -D flags: the jar's own copy, extracted to the per-user cache.
    local out
    out="$(run_java)" || return 1
    echo "$out"
    grep -qx "version=$version" <<<"$out" && grep -qx "via=bundled" <<<"$out" &&
        grep -q "^path=$XDG_CACHE_HOME/ferrymap/" <<<"$out"
}
check java_runs_with_no_flags java_plain

java_libpath() {
    local out
    out="$(run_java -Djava.library.path="$prefix/lib")" || return 1
    echo "$out"
    grep -qx "via=java.library.path" <<<"$out" && in_dir "$out" "$prefix/lib"
}
check java_uses_installed_c_library_via_java_library_path java_libpath

expect_fail java_other_major_refused "libferrymap is version 1\.0\.0, but this Java binding is version $version" \
    run_java -Dferrymap.library.path="$work/bumped/libferrymap.so.1"

# ---- 4. Go: a consumer module built against the installed C package ----
go_build() {
    cp -r "$work/src/go" "$work/go-consumer" || return 1
    # Offline: the module comes from the replace directory, nothing from a proxy.
    (cd "$work/go-consumer" && GOPROXY=off GOFLAGS=-mod=mod go mod tidy &&
        GOPROXY=off go build -o ferrymap-consumer . &&
        readelf -dW ferrymap-consumer | grep -E 'NEEDED|RUNPATH|RPATH')
}
check go_consumer_builds_through_pkg_config go_build

go_moved() {
    mkdir -p "$work/elsewhere-go" && mv "$work/go-consumer/ferrymap-consumer" "$work/elsewhere-go/" || return 1
    local out
    out="$(cd / && "$work/elsewhere-go/ferrymap-consumer")" || return 1
    echo "$out"
    grep -qx "version=$version" <<<"$out" && grep -q "^path=.*/libferrymap.so.0$" <<<"$out" && in_dir "$out" "$prefix/lib"
}
check go_binary_moved_still_runs go_moved

expect_fail go_other_major_refused "is version 1\.0\.0, but this Go package was built against ferrymap\.h $version" \
    env LD_LIBRARY_PATH="$work/bumped-as-0" "$work/elsewhere-go/ferrymap-consumer"

echo "installed packages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
