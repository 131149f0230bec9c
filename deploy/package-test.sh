#!/usr/bin/env bash
# The Debian packages on a fresh Debian 12 root filesystem (issue 15 part
# 1).  Called by `deploy/dev package-test` after it built two versions:
#
#   deploy/package-test.sh OUT OLD NEW
#
# mmdebstrap makes a minimal bookworm tree from Debian's archive (cached in
# OUT/rootfs.tar: the first run downloads it, later runs reuse it), and in
# a chroot of it, with its own /proc and /dev bound, this script:
#
#   1. installs the OLD pair with apt (dependencies from the archive),
#      checks the revoca user, the directories and their owners, the
#      module's modules-enabled link and `nginx -t`;
#   2. writes /etc/revoca/revoca.conf for a demo PKI, starts redis-server
#      (loopback, a free port), revoca-signer and revoca-crlgen as the
#      revoca user the way the units run them (their --check first), and
#      nginx loading the packaged module; issues and revokes with the CLI
#      and checks both answers with `openssl ocsp` and the CRL with
#      `openssl crl -verify`;
#   3. upgrades to NEW: the configuration and the CRLs under /var/lib are
#      kept, the daemons start again and both answers are still right;
#   4. removes (binaries gone, conffiles kept, nginx still starts without
#      the module) and purges (nothing of ours left).
#
# The daemons are started by hand: no systemd runs inside a chroot.  The
# units themselves are checked with `systemd-analyze verify` and scored
# with `systemd-analyze security --offline` against the installed tree.
set -Eeuo pipefail

OUT=$(cd "$1" && pwd) OLD=$2 NEW=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R=$OUT/rootfs
TAR=$OUT/rootfs.tar
PY=/usr/bin/python3
MIRROR=${REVOCA_DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { printf 'package-test: %s\n' "$*"; }
fail() { printf 'package-test: FAIL: %s\n' "$*" >&2; exit 1; }

mounted=()
cleanup() {
    local i
    # the daemons' logs outlive the root filesystem, for a failed run
    cp "$R"/tmp/*.log "$OUT/" 2>/dev/null || true
    cp "$R"/var/log/nginx/error.log "$OUT/nginx-error.log" 2>/dev/null || true
    if [[ -d $R/proc ]]; then
        chroot "$R" sh -c 'for p in /run/revoca-test/*.pid; do
            [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done' || true
        chroot "$R" sh -c 'nginx -s stop 2>/dev/null; redis-cli -p '"${PORT:-0}"' shutdown nosave 2>/dev/null' >/dev/null 2>&1 || true
        sleep 1
    fi
    [[ -z ${REVOCA_PKG_KEEP:-} ]] || return 0
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -l "${mounted[i]}" 2>/dev/null || true
    done
    [[ -n ${REVOCA_PKG_KEEP:-} ]] || rm -rf "$R"
}
trap cleanup EXIT
trap 'echo "package-test: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR

in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- the root filesystem ----
t0=$(date +%s)
if [[ ! -s $TAR ]]; then
    say "mmdebstrap bookworm (from $MIRROR) -> $TAR"
    # (the name's .tar tells mmdebstrap the format)
    mmdebstrap --variant=apt --include=ca-certificates,procps bookworm \
        "$OUT/rootfs-part.tar" "$MIRROR" >"$OUT/mmdebstrap.log" 2>&1 ||
        { tail -20 "$OUT/mmdebstrap.log" >&2; fail "mmdebstrap"; }
    mv "$OUT/rootfs-part.tar" "$TAR"
fi
rm -rf "$R"
mkdir -p "$R"
tar -xf "$TAR" -C "$R"
# (never write through a link of the tree: its absolute targets are the
# host's files)
rm -f "$R/etc/resolv.conf"
cp /etc/resolv.conf "$R/etc/resolv.conf"
for m in proc dev dev/pts sys; do
    mkdir -p "$R/$m"
    case $m in
    proc) mount -t proc proc "$R/proc" ;;
    *) mount --bind "/$m" "$R/$m" ;;
    esac
    mounted+=("$R/$m")
done
# no init system in here: packages must not try to start services
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod +x "$R/usr/sbin/policy-rc.d"
mkdir -p "$R/tmp/debs"
cp "$OUT"/*_"$OLD"_*.deb "$OUT"/*_"$NEW"_*.deb "$R/tmp/debs/"
say "root filesystem ready ($(($(date +%s) - t0)) s)"

# ---- 1. install the older pair ----
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends \
    "/tmp/debs/revoca_${OLD}_amd64.deb" \
    "/tmp/debs/libnginx-mod-http-revoca_${OLD}_amd64.deb" \
    nginx redis-server openssl >"$OUT/install.log" 2>&1 ||
    { tail -30 "$OUT/install.log" >&2; fail "apt-get install $OLD"; }
say "installed $OLD"
in_root getent passwd revoca >/dev/null || fail "no revoca user"
[[ $(in_root stat -c %U:%a /var/lib/revoca) == revoca:750 ]] ||
    fail "/var/lib/revoca: $(in_root stat -c %U:%a /var/lib/revoca)"
[[ $(in_root stat -c %G /etc/revoca) == revoca ]] || fail "/etc/revoca group"
[[ -L $R/etc/nginx/modules-enabled/50-mod-http-revoca.conf ]] ||
    fail "module not enabled: $(ls "$R/etc/nginx/modules-enabled")"
in_root nginx -t >/dev/null 2>&1 || fail "nginx -t with the module: $(in_root nginx -t 2>&1)"
for u in revoca-signer.service revoca-signer@.service revoca-crlgen.service; do
    [[ -f $R/lib/systemd/system/$u ]] || fail "no $u"
done

# ---- the units, against the installed tree ----
for u in revoca-signer.service revoca-crlgen.service revoca-signer@1.service; do
    f=$R/lib/systemd/system/${u/@1/@}
    # verify on the host: the unit as installed, its binaries in $R
    sed "s#/usr/bin/revoca#$R/usr/bin/revoca#g" "$f" >"$OUT/${u/@1/@}"
    if ! out=$(systemd-analyze verify --man=no "$OUT/${u/@1/@}" 2>&1); then
        fail "systemd-analyze verify $u: $out"
    fi
    [[ -z $out ]] || say "systemd-analyze verify $u: $out"
done
for u in revoca-signer.service revoca-crlgen.service; do
    score=$(systemd-analyze security --offline=yes --root="$R" "$u" 2>/dev/null |
        tail -1)
    say "systemd-analyze security $u: ${score:-(no score)}"
done

# ---- 2. configure and run ----
PORT=$(free_port) HTTP=$(free_port)
$PY "$ROOT/deploy/demo_pki.py" "$R/etc/revoca/demo" >/dev/null
in_root chown -R root:revoca /etc/revoca/demo
in_root chmod 0640 /etc/revoca/demo/issuer.key /etc/revoca/demo/responder.key
cat >"$R/etc/revoca/revoca.conf" <<CONF
redis = { host = "127.0.0.1"; port = $PORT; };
prefix = "revoca";
signer = { batch = 64; };
cli = { issue_wait = "20s"; };
crl = { publish_dir = "/var/lib/revoca/crl"; base_url = "http://127.0.0.1:8080/crl/"; }; # the demo PKI's CDP
issuers = (
  { name = "demo"; cert = "demo/issuer.pem"; key = "demo/issuer.key";
    responder_cert = "demo/responder.pem"; responder_key = "demo/responder.key";
    profile = "private"; validity = "4d"; unissued = "unknown";
    crl = { update_interval = "2s"; }; }
);
CONF
in_root chown root:revoca /etc/revoca/revoca.conf
in_root chmod 0640 /etc/revoca/revoca.conf
# Debian's default site listens on port 80 of every address: not here
rm -f "$R/etc/nginx/sites-enabled/default"
cat >"$R/etc/nginx/sites-enabled/revoca-test" <<SITE
revoca_config /etc/revoca/revoca.conf;
revoca_cache_zone 8m;
server {
    listen 127.0.0.1:$HTTP;
    location /ocsp { revoca_ocsp; }
    location /crl/ { alias /var/lib/revoca/crl/; }
}
SITE
sed -i 's/^worker_processes.*/worker_processes 1;/; s#^pid .*#pid /run/nginx.pid;#' \
    "$R/etc/nginx/nginx.conf"

start_all() {
    mkdir -p "$R/run/revoca-test"
    in_root redis-server --port "$PORT" --bind 127.0.0.1 --daemonize yes \
        --dir /var/lib/redis --appendonly yes --save "" \
        --pidfile /run/revoca-test/redis.pid --logfile /tmp/redis.log
    for i in $(seq 100); do
        in_root redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break
        sleep 0.1
    done
    local d
    for d in signer crlgen; do
        # as the unit does: the check first, then the daemon as revoca
        in_root runuser -u revoca -- "revoca-$d" --check -c /etc/revoca/revoca.conf \
            >/dev/null || fail "revoca-$d --check"
        chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setsid runuser -u revoca -- \
            "revoca-$d" -c /etc/revoca/revoca.conf >>"$R/tmp/$d.log" 2>&1 </dev/null &
        echo $! >"$R/run/revoca-test/$d.pid"
    done
    in_root nginx || fail "nginx: $(in_root nginx -t 2>&1)"
}

stop_all() {
    local p
    in_root nginx -s stop || true
    for p in signer crlgen; do
        [[ -f $R/run/revoca-test/$p.pid ]] && kill "$(cat "$R/run/revoca-test/$p.pid")" 2>/dev/null || true
    done
    sleep 1
    in_root redis-cli -p "$PORT" shutdown >/dev/null 2>&1 || true
    for i in $(seq 50); do
        in_root redis-cli -p "$PORT" ping >/dev/null 2>&1 || break
        sleep 0.1
    done
    rm -f "$R"/run/revoca-test/*.pid
}

ocsp_status() { # CERT -> good|revoked|unknown|..., or openssl's complaint
    local out
    out=$(in_root openssl ocsp -issuer /etc/revoca/demo/issuer.pem \
        -cert "/etc/revoca/demo/$1.pem" -url "http://127.0.0.1:$HTTP/ocsp" \
        -CAfile /etc/revoca/demo/chain.pem -no_nonce 2>&1) || true
    if grep -q "^/etc/revoca/demo/$1.pem: " <<<"$out"; then
        sed -n "s#^/etc/revoca/demo/$1.pem: ##p" <<<"$out"
    else
        tr '\n' ' ' <<<"$out"
    fi
}

expect_answers() {
    local what=$1 g r i
    for i in $(seq 50); do
        g=$(ocsp_status good) r=$(ocsp_status revoked)
        [[ $g == good && $r == revoked ]] && break
        sleep 0.2
    done
    [[ $g == good ]] || fail "$what: good.pem answered '$g'"
    [[ $r == revoked ]] || fail "$what: revoked.pem answered '$r'"
    say "$what: openssl ocsp: good.pem $g, revoked.pem $r"
}

start_all
cli="revoca -c /etc/revoca/revoca.conf"
in_root runuser -u revoca -- $cli issue --issuer demo --cert /etc/revoca/demo/good.pem >/dev/null
in_root runuser -u revoca -- $cli issue --issuer demo --cert /etc/revoca/demo/revoked.pem >/dev/null
in_root runuser -u revoca -- $cli revoke --issuer demo --cert /etc/revoca/demo/revoked.pem \
    --reason keyCompromise --wait >/dev/null
expect_answers "$OLD"
for i in $(seq 100); do
    in_root openssl crl -inform DER -in /var/lib/revoca/crl/demo.crl -noout -text 2>/dev/null |
        grep -q "Serial Number: $(in_root openssl x509 -noout -serial -in /etc/revoca/demo/revoked.pem | cut -d= -f2)" && break
    sleep 0.2
done
in_root openssl crl -inform DER -in /var/lib/revoca/crl/demo.crl -CAfile /etc/revoca/demo/chain.pem \
    -noout 2>&1 | grep -q "verify OK" || fail "the published CRL does not verify"
say "$OLD: the CRL at /var/lib/revoca/crl/demo.crl verifies and lists the revoked serial"
conf_sum=$(md5sum <"$R/etc/revoca/revoca.conf")
crl_sum=$(md5sum <"$R/var/lib/revoca/crl/demo.crl")
stop_all

# ---- 3. upgrade ----
in_root apt-get install -y -qq "/tmp/debs/revoca_${NEW}_amd64.deb" \
    "/tmp/debs/libnginx-mod-http-revoca_${NEW}_amd64.deb" >"$OUT/upgrade.log" 2>&1 ||
    { tail -30 "$OUT/upgrade.log" >&2; fail "upgrade to $NEW"; }
[[ $(in_root dpkg-query -W -f '${Version}' revoca) == "$NEW" ]] || fail "not upgraded"
[[ $(md5sum <"$R/etc/revoca/revoca.conf") == "$conf_sum" ]] || fail "revoca.conf changed by the upgrade"
[[ $(md5sum <"$R/var/lib/revoca/crl/demo.crl") == "$crl_sum" ]] || fail "the CRL changed by the upgrade"
say "upgraded to $NEW: configuration and data kept"
start_all
expect_answers "$NEW"
stop_all

# ---- 4. remove, purge ----
in_root apt-get remove -y -qq revoca libnginx-mod-http-revoca >"$OUT/remove.log" 2>&1 ||
    { tail -30 "$OUT/remove.log" >&2; fail "remove"; }
[[ ! -e $R/usr/bin/revoca-signer && ! -e $R/usr/lib/nginx/modules/ngx_http_revoca_module.so ]] ||
    fail "files left after remove"
[[ -f $R/etc/revoca/revoca.conf.example ]] || fail "remove dropped a conffile"
[[ ! -e $R/etc/nginx/modules-enabled/50-mod-http-revoca.conf ]] || fail "module still enabled"
# the site uses revoca_* directives: without the module nginx must refuse
# it, and start again once the site is gone
rm -f "$R/etc/nginx/sites-enabled/revoca-test"
in_root nginx -t >/dev/null 2>&1 || fail "nginx -t after removing the module"
say "removed: binaries and module gone, conffiles kept, nginx still starts"
rm -rf "$R/etc/revoca/demo" "$R/etc/revoca/revoca.conf" # the admin's own files
in_root apt-get purge -y -qq revoca libnginx-mod-http-revoca >"$OUT/purge.log" 2>&1 ||
    { tail -30 "$OUT/purge.log" >&2; fail "purge"; }
left=$(cd "$R" && ls -d etc/revoca var/lib/revoca usr/share/doc/revoca \
    lib/systemd/system/revoca-* usr/share/nginx/modules-available/mod-http-revoca.conf \
    2>/dev/null || true)
[[ -z $left ]] || fail "left after purge: $left"
in_root dpkg -l revoca 2>/dev/null | grep -q '^ii' && fail "still installed"
say "purged: nothing of ours left"
say "ok ($(($(date +%s) - t0)) s)"
