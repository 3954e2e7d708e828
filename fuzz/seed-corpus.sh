#!/usr/bin/env bash
# Copies the Notary fixtures into fuzz/corpus/<target>/ as seed inputs (corpora are not committed).
# Usage: fuzz/seed-corpus.sh [target...]   (default: every metadata target)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="$here/../fixtures/notary"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(metadata_parser canonical_encoder roundtrip_writer)
for t in "${targets[@]}"; do
    mkdir -p "$here/corpus/$t"
    cp "$fixtures"/*.json "$here/corpus/$t/"
    # Same file names as the top level (root.json, targets.json, …): keep them apart.
    for f in "$fixtures"/deleg2/*.json; do
        cp "$f" "$here/corpus/$t/deleg2-$(basename "$f")"
    done
    echo "$t: $(ls "$here/corpus/$t" | wc -l) seeds"
done
