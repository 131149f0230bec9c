#!/usr/bin/env bash
# Debian packages of Revoca (issue 15 part 1), called by deploy/dev:
#
#   deploy/dev package [VERSION]
#       exports the working tree (tracked and new files, not ignored ones)
#       to build-pkg/revoca-VERSION/, puts deploy/debian/ at its root as
#       debian/, and runs dpkg-buildpackage -b: build-pkg/revoca_*.deb and
#       build-pkg/libnginx-mod-http-revoca_*.deb; then lintian (errors
#       fail).  VERSION (default: deploy/debian/changelog's) gets its own
#       changelog entry, so that two builds can be told apart (upgrades).
#
#   deploy/dev package-test
#       builds two versions, makes a fresh Debian 12 root filesystem with
#       mmdebstrap (from Debian's archive), and inside it (chroot, its own
#       /proc): installs the older pair, starts Redis, the signer and nginx
#       with the module as the packages lay them out, issues and revokes a
#       certificate and checks the OCSP answers with openssl ocsp;
#       upgrades to the newer pair and checks configuration and data were
#       kept and everything still answers; removes, then purges, and checks
#       nothing of ours is left.  See deploy/package-test.sh.  Then builds
#       the container images from the newer pair and runs them
#       (deploy/container-test.sh).
set -euo pipefail

ROOT=${REVOCA_ROOT:?}
OUT=${REVOCA_PKG_OUT:-$ROOT/build-pkg}
PKG_PACKAGES="dpkg-dev debhelper fakeroot lintian nginx-dev libpcre2-dev
 zlib1g-dev libsystemd-dev mmdebstrap podman runc python3-yaml"

pkg_log() { printf 'package: %s\n' "$*"; }

# The changelog's version, or VERSION with an entry of its own on top.
pkg_changelog() {
    local src=$1 version=$2
    if [[ -n $version ]]; then
        {
            printf 'revoca (%s) unstable; urgency=medium\n\n' "$version"
            printf '  * Development build from %s.\n\n' \
                "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo tree)"
            printf ' -- Revoca developers <dev@revoca.invalid>  %s\n\n' \
                "$(date -R)"
            cat "$ROOT/deploy/debian/changelog"
        } >"$src/debian/changelog"
    fi
    dpkg-parsechangelog -l "$src/debian/changelog" -S Version
}

# build_one VERSION: the two .deb files of VERSION under $OUT.
pkg_build_one() {
    local version=${1:-} src tmp v
    tmp=$(mktemp -d "$OUT/src.XXXXXX")
    src=$tmp/revoca
    mkdir -p "$src"
    # the working tree as it is (a clean clone and a dev tree alike)
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' |
        tar --null -T - -cf -) | tar -xf - -C "$src"
    rm -rf "$src/debian"
    cp -r "$ROOT/deploy/debian" "$src/debian"
    v=$(pkg_changelog "$src" "$version")
    pkg_log "building $v in $src"
    (cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)" >"$tmp/build.log" 2>&1) || {
        tail -40 "$tmp/build.log" >&2
        echo "package: dpkg-buildpackage failed (log: $tmp/build.log)" >&2
        return 1
    }
    mv "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$OUT/" 2>/dev/null || true
    pkg_log "lintian $v"
    # errors fail the build; warnings and notes are printed
    if ! lintian --fail-on error --tag-display-limit 0 \
        "$OUT/revoca_${v}_"*.changes | tee "$OUT/lintian-$v.txt"; then
        echo "package: lintian reports errors (above)" >&2
        return 1
    fi
    rm -rf "$tmp"
    echo "$v"
}

cmd_package() {
    mkdir -p "$OUT"
    pkg_build_one "${1:-}" >/dev/null
    ls -l "$OUT"/*.deb
}

cmd_package_test() {
    mkdir -p "$OUT"
    local base v1 v2
    base=$(dpkg-parsechangelog -l "$ROOT/deploy/debian/changelog" -S Version)
    v1=$(pkg_build_one "$base+test1" | tail -1)
    v2=$(pkg_build_one "$base+test2" | tail -1)
    "$ROOT/deploy/package-test.sh" "$OUT" "$v1" "$v2"
    "$ROOT/deploy/container-test.sh" "$OUT" "$v2"
}
