#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ (corpora are not committed; fuzz/.gitignore keeps them out).
#   metadata targets: the Notary fixtures, fixtures/notary/*.json and fixtures/notary/deleg2/*.json
#   key_file_reader:  key files made here with openssl (skipped when openssl is missing), encrypted
#                     ones under the passphrase `fuzz` that the target offers
# Usage: fuzz/seed-corpus.sh [target...]   (default: all four targets)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="$here/../fixtures/notary"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(metadata_parser canonical_encoder roundtrip_writer key_file_reader)

seed_metadata() {
    local dir="$1"
    cp "$fixtures"/*.json "$dir/"
    # Same file names as the top level (root.json, targets.json, …): keep them apart.
    for f in "$fixtures"/deleg2/*.json; do
        cp "$f" "$dir/deleg2-$(basename "$f")"
    done
}

# `role:`/`gun:` headers go between the BEGIN line and the body, as the Go notary client writes them.
with_headers() {
    local role="$1" gun="$2"
    awk -v role="$role" -v gun="$gun" \
        'NR==1 {print; print "role: " role; if (gun != "") print "gun: " gun; print ""; next} {print}'
}

seed_keys() {
    local dir="$1"
    if ! command -v openssl >/dev/null; then
        echo "openssl not found: key_file_reader starts from an empty corpus" >&2
        return
    fi
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/p256.pem" 2>/dev/null
    openssl genpkey -algorithm ED25519 -out "$tmp/ed.pem" 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p384.pem" 2>/dev/null
    # Plain PKCS#8 (`PRIVATE KEY`).
    with_headers root "" <"$tmp/p256.pem" >"$dir/pkcs8-p256-root.key"
    with_headers targets example.com/org/app <"$tmp/ed.pem" >"$dir/pkcs8-ed25519-targets.key"
    with_headers targets/qa "" <"$tmp/p384.pem" >"$dir/pkcs8-p384-delegation.key"
    # SEC1 (`EC PRIVATE KEY`).
    openssl ec -in "$tmp/p256.pem" -out "$tmp/sec1.pem" 2>/dev/null
    with_headers snapshot example.com/org/app <"$tmp/sec1.pem" >"$dir/sec1-p256-snapshot.key"
    # Encrypted PKCS#8 as the Go notary client writes it: PBES2, PBKDF2-HMAC-SHA1, 2048 iterations.
    openssl pkcs8 -topk8 -in "$tmp/p256.pem" -v2 aes-256-cbc -v2prf hmacWithSHA1 -iter 2048 \
        -passout pass:fuzz -out "$tmp/enc-pbkdf2.pem" 2>/dev/null
    with_headers root "" <"$tmp/enc-pbkdf2.pem" >"$dir/encrypted-pbkdf2-root.key"
    # Encrypted with scrypt, as manifesto writes keys (small N so each run stays fast).
    openssl pkcs8 -topk8 -in "$tmp/ed.pem" -v2 aes-256-cbc -scrypt -scrypt_N 1024 -scrypt_r 8 \
        -scrypt_p 1 -passout pass:fuzz -out "$tmp/enc-scrypt.pem" 2>/dev/null
    with_headers targets example.com/org/app <"$tmp/enc-scrypt.pem" >"$dir/encrypted-scrypt-targets.key"
    # Public keys, for `public/<id>.pem`.
    openssl pkey -in "$tmp/p256.pem" -pubout -out "$dir/public-p256.pem" 2>/dev/null
    openssl pkey -in "$tmp/ed.pem" -pubout -out "$dir/public-ed25519.pem" 2>/dev/null
    # Several blocks in one file, as `key import FILE` reads them.
    cat "$dir/pkcs8-p256-root.key" "$dir/sec1-p256-snapshot.key" >"$dir/two-blocks.key"
}

for t in "${targets[@]}"; do
    dir="$here/corpus/$t"
    mkdir -p "$dir"
    case "$t" in
        key_file_reader) seed_keys "$dir" ;;
        *) seed_metadata "$dir" ;;
    esac
    echo "$t: $(find "$dir" -type f | wc -l) seeds in corpus/$t"
done
