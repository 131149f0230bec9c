#!/bin/bash
# Prepares nginx's objs/ for building ngx_http_revoca_module against
# Debian's nginx-dev: copies the source tree to OUT and runs its configure
# with the flags Debian built /usr/sbin/nginx with (conf_flags) and
# --with-compat, so that the module's binary signature matches.
# usage: nginx_configure.sh NGX_SRC_DIR OUT MODULE_DIR
set -euo pipefail
src=$1 out=$2 mod=$3
rm -rf "$out"
cp -r "$src" "$out"
cd "$out"
. ./conf_flags
if ! ./configure "${NGX_CONF_FLAGS[@]}" --with-compat \
        --add-dynamic-module="$mod" >configure.log 2>&1; then
    tail -20 configure.log >&2
    exit 1
fi
