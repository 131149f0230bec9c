#!/usr/bin/env bash
# The container images (issue 15 part 6), called by `deploy/dev
# package-test` after the packages are built:
#
#   deploy/container-test.sh OUT VERSION
#
# No registry can be reached here, so the debian:12-slim-like base is made
# from Debian's archive with mmdebstrap (--variant=minbase, cached in
# OUT/base.tar) and `podman import`ed as localhost/revoca-debian:12.  Both
# images are built from deploy/container/ with Debian's podman
# (--storage-driver vfs; --isolation chroot, as this machine's cgroup
# hybrid mode stops crun), and then run with runc and the host's network
# namespace (loopback only, free ports): Redis on the host, the signer from
# the daemons image, the CLI from it to issue and revoke, and nginx from
# the responder image; `openssl ocsp` on the host judges both answers.
set -Eeuo pipefail

OUT=$(cd "$1" && pwd) VERSION=$2
TAG=${VERSION//[^A-Za-z0-9_.-]/_}   # an image tag has no '+'
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
MIRROR=${REVOCA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PODMAN=(podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs)
RUN=(run --rm --network host --ulimit nofile=4096:4096 --ulimit nproc=1024:1024)
BASE=localhost/revoca-debian:12

say() { printf 'container-test: %s\n' "$*"; }
fail() { printf 'container-test: FAIL: %s\n' "$*" >&2; exit 1; }
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

W=$(mktemp -d "$OUT/ctest.XXXXXX")
names=()
cleanup() {
    local n
    for n in "${names[@]}"; do
        "${PODMAN[@]}" logs "$n" >"$OUT/container-$n.log" 2>&1 || true
        "${PODMAN[@]}" rm -f "$n" >/dev/null 2>&1 || true
    done
    [[ -f $W/redis.pid ]] && kill "$(cat "$W/redis.pid")" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

t0=$(date +%s)
if [[ ! -s $OUT/base.tar ]]; then
    say "mmdebstrap --variant=minbase bookworm -> $OUT/base.tar"
    mmdebstrap --variant=minbase bookworm "$OUT/base-part.tar" "$MIRROR" \
        >"$OUT/mmdebstrap-base.log" 2>&1 ||
        { tail -20 "$OUT/mmdebstrap-base.log" >&2; fail "mmdebstrap"; }
    mv "$OUT/base-part.tar" "$OUT/base.tar"
fi
"${PODMAN[@]}" image exists "$BASE" ||
    "${PODMAN[@]}" import "$OUT/base.tar" "$BASE" >/dev/null

mkdir -p "$W/ctx/debs"
cp "$OUT/revoca_${VERSION}_amd64.deb" "$OUT/libnginx-mod-http-revoca_${VERSION}_amd64.deb" \
    "$W/ctx/debs/"
cp "$ROOT/deploy/container/revoca-site.conf" "$W/ctx/"
for img in responder daemons; do
    "${PODMAN[@]}" build --isolation chroot --network host --build-arg "BASE=$BASE" \
        -t "localhost/revoca-$img:$TAG" \
        -f "$ROOT/deploy/container/Containerfile.$img" "$W/ctx" \
        >"$OUT/podman-build-$img.log" 2>&1 ||
        { tail -20 "$OUT/podman-build-$img.log" >&2; fail "podman build $img"; }
    say "built localhost/revoca-$img:$TAG"
done

# ---- run them ----
PORT=$(free_port) HTTP=$(free_port)
mkdir -p "$W/etc/revoca" "$W/site" "$W/redis"
$PY "$ROOT/deploy/demo_pki.py" "$W/etc/revoca/demo" >/dev/null
chmod -R a+rX "$W/etc/revoca"   # the image's revoca user reads it
cat >"$W/etc/revoca/revoca.conf" <<CONF
redis = { host = "127.0.0.1"; port = $PORT; };
prefix = "revoca";
cli = { issue_wait = "30s"; };
crl = { publish_dir = "/var/lib/revoca/crl"; base_url = "http://127.0.0.1:8080/crl/"; };
issuers = (
  { name = "demo"; cert = "demo/issuer.pem"; key = "demo/issuer.key";
    responder_cert = "demo/responder.pem"; responder_key = "demo/responder.key";
    profile = "private"; validity = "4d"; unissued = "unknown"; }
);
CONF
# the image's site listens on 8080 of every address: here, loopback only
sed "s/listen 8080;/listen 127.0.0.1:$HTTP;/" "$ROOT/deploy/container/revoca-site.conf" \
    >"$W/site/revoca.conf"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$W/redis" --save "" \
    --daemonize yes --pidfile "$W/redis.pid" --logfile "$W/redis.log"
for i in $(seq 100); do
    [[ $(redis-cli -p "$PORT" ping 2>/dev/null) == PONG ]] && break
    sleep 0.1
done

conf=(-v "$W/etc/revoca:/etc/revoca:ro")
"${PODMAN[@]}" "${RUN[@]}" -d --name revoca-signer-t "${conf[@]}" \
    "localhost/revoca-daemons:$TAG" >/dev/null
names+=(revoca-signer-t)
"${PODMAN[@]}" "${RUN[@]}" -d --name revoca-responder-t "${conf[@]}" \
    -v "$W/site/revoca.conf:/etc/nginx/conf.d/revoca.conf:ro" \
    "localhost/revoca-responder:$TAG" >/dev/null
names+=(revoca-responder-t)

cli() {
    "${PODMAN[@]}" "${RUN[@]}" "${conf[@]}" "localhost/revoca-daemons:$TAG" \
        revoca -c /etc/revoca/revoca.conf "$@"
}
cli issue --issuer demo --cert /etc/revoca/demo/good.pem >/dev/null
cli issue --issuer demo --cert /etc/revoca/demo/revoked.pem >/dev/null
cli revoke --issuer demo --cert /etc/revoca/demo/revoked.pem --reason keyCompromise \
    --wait >/dev/null

status() {
    local out
    out=$(openssl ocsp -issuer "$W/etc/revoca/demo/issuer.pem" \
        -cert "$W/etc/revoca/demo/$1.pem" -url "http://127.0.0.1:$HTTP/ocsp" \
        -CAfile "$W/etc/revoca/demo/chain.pem" -no_nonce 2>&1) || true
    sed -n "s#^$W/etc/revoca/demo/$1.pem: ##p" <<<"$out"
}
for i in $(seq 100); do
    g=$(status good) r=$(status revoked)
    [[ $g == good && $r == revoked ]] && break
    sleep 0.2
done
[[ $g == good ]] || fail "good.pem answered '$g' by the responder container"
[[ $r == revoked ]] || fail "revoked.pem answered '$r' by the responder container"
say "the responder image answers: good.pem $g, revoked.pem $r (openssl ocsp)"
# the kustomize base: no cluster here, so only that it parses and names
# the images built above
$PY - "$ROOT/deploy/kubernetes" <<'PYEOF'
import os, sys, yaml
d = sys.argv[1]
k = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
for r in k["resources"]:
    docs = list(yaml.safe_load_all(open(os.path.join(d, r))))
    assert all(x.get("kind") and x.get("metadata") for x in docs), r
names = {i["name"] for i in k["images"]}
assert names == {"revoca-responder", "revoca-daemons"}, names
PYEOF
say "deploy/kubernetes parses (not applied: no cluster here)"
say "ok ($(($(date +%s) - t0)) s)"
