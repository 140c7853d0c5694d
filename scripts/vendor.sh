#!/usr/bin/env bash
# Re-creates vendor/<crate> for each crate named (default: socketioxide engineioxide): the
# published crate at the version Cargo.lock names, from cargo's registry cache, with
# vendor/<crate>.patch applied (gridcast's one patch of each: vendor/README.md, ARCHITECTURE.md
# "The socketioxide patch"). Run it after changing a crate's version; if a patch no longer
# applies, port it by hand and write the new diff back (paths a/src and b/src):
#   diff -ru a/src b/src > vendor/<crate>.patch   (a: the published crate, b: vendor/<crate>)
set -euo pipefail
cd "$(dirname "$0")/.."
crates=("$@")
[ ${#crates[@]} -gt 0 ] || crates=(socketioxide engineioxide)
for crate in "${crates[@]}"; do
  version=$(awk -v name="name = \"$crate\"" '$0 == name { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  # Cargo resolves the crate from vendor/, so fetch the published one by itself into the cache.
  scratch=$(mktemp -d)
  cargo init -q --vcs none --name "fetch-$crate" "$scratch"
  (cd "$scratch" && cargo add -q "$crate@=$version" && cargo fetch -q)
  rm -rf "$scratch"
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version" | head -n 1)
  rm -rf "vendor/$crate"
  cp -r "$src" "vendor/$crate"
  patch -p1 -d "vendor/$crate" < "vendor/$crate.patch"
  echo "vendor/$crate: $crate $version with vendor/$crate.patch applied"
done
