#!/usr/bin/env bash
# Re-creates vendor/socketioxide: the published socketioxide crate at the version Cargo.lock names,
# from cargo's registry cache, with vendor/socketioxide.patch applied (gridcast's one patch of it:
# ARCHITECTURE.md, "The socketioxide patch"). Run it after changing socketioxide's version; if the
# patch no longer applies, port it by hand and write the new diff back:
#   (cd vendor/socketioxide && diff -ru <pristine copy>/src src) > vendor/socketioxide.patch
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(awk '$0 == "name = \"socketioxide\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
# Cargo resolves the crate from vendor/, so fetch the published one by itself into the cache.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo init -q --vcs none --name fetch-socketioxide "$scratch"
(cd "$scratch" && cargo add -q "socketioxide@=$version" && cargo fetch -q)
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"socketioxide-$version" | head -n 1)
rm -rf vendor/socketioxide
cp -r "$src" vendor/socketioxide
patch -p1 -d vendor/socketioxide < vendor/socketioxide.patch
echo "vendor/socketioxide: socketioxide $version with vendor/socketioxide.patch applied"
