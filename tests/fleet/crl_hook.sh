#!/bin/sh
# revoca-crlgen post_publish hook of the fleet test: delivers each published
# file ($REVOCA_CRL_FILE) to the shared location SHARED, as an operator's
# hook would push it to object storage behind a CDN, and keeps a copy of
# every delivery in SHARED/archive (NANOSECONDS-GENERATOR-KIND-NUMBER.crl)
# so that fleet.py can check the order CRLs arrived in.
#   crl_hook.sh SHARED GENERATOR
set -eu
shared=$1
gen=$2
f=$REVOCA_CRL_FILE
name=$(basename "$f")
ts=$(date +%s%N)
cp "$f" "$shared/.$gen.$$.tmp"
mv "$shared/.$gen.$$.tmp" "$shared/$name"
cp "$f" "$shared/archive/.$gen.$$.tmp"
mv "$shared/archive/.$gen.$$.tmp" \
    "$shared/archive/$ts-$gen-$REVOCA_CRL_KIND-$REVOCA_CRL_NUMBER.crl"
