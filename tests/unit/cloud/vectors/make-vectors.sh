#!/usr/bin/env bash
# Makes the JWS test vectors of tests/unit/cloud/ with OpenSSL 3 (an implementation independent of
# the libsodium that gateway/cloud uses), and copies a few into the cloud_message fuzz seeds.
# Deterministic: Ed25519 signatures (RFC 8032) depend only on the key and the message, and the
# keys come from fixed seeds, so re-running reproduces every file byte for byte.
#
#   tests/unit/cloud/vectors/make-vectors.sh
#
# Files (all without a trailing newline):
#   keys.txt                 "<kid> <seed, hex> <public key, base64url>", one test key per line;
#                            seed = SHA-256("lintel test key <kid>"), public key as OpenSSL derives it
#   rfc8037-a4.jws           RFC 8037 appendix A.4, checked here against the RFC's own text
#   <name>.payload.json      a payload, exactly the bytes that were signed
#   <name>.jws               BASE64URL({"alg":"EdDSA","kid":KID}) . BASE64URL(payload) . BASE64URL(sig)
#   alg-none.jws, alg-hs256.jws   algorithm confusion: unsigned, and HMAC-SHA256 keyed with the
#                            Ed25519 public key bytes (the classic RS256/HS256 confusion attack)
set -euo pipefail
cd "$(dirname "$0")"
fuzz_seeds=../../../fuzz/corpus/cloud_message
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
b64url_decode() {
  local s
  s=$(printf '%s' "$1" | tr -- '-_' '+/')
  while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done
  printf '%s' "$s" | base64 -d
}
# An OpenSSL private key file from a raw 32-byte seed: the fixed PKCS#8 prefix for Ed25519 + seed.
key_from_seed() {  # seed_file out_pem
  { printf '302e020100300506032b657004220420' | xxd -r -p; cat "$1"; } >"$tmp/key.der"
  openssl pkey -inform DER -in "$tmp/key.der" -out "$2"
}
public_b64url() { openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | b64url; }
sign_b64url() {  # pem signing_input
  printf '%s' "$2" >"$tmp/in"
  openssl pkeyutl -sign -rawin -inkey "$1" -in "$tmp/in" | b64url
}

# ---- RFC 8037 appendix A.4 (the RFC 8032 test 1 key) -------------------------------------------
rfc_d=nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A
rfc_x=11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo
rfc_jws=eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg
b64url_decode "$rfc_d" >"$tmp/rfc.seed"
key_from_seed "$tmp/rfc.seed" "$tmp/rfc.pem"
[ "$(public_b64url "$tmp/rfc.pem")" = "$rfc_x" ] || { echo "RFC 8037 A.4: x mismatch" >&2; exit 1; }
header=$(printf '%s' '{"alg":"EdDSA"}' | b64url)
payload=$(printf '%s' 'Example of Ed25519 signing' | b64url)
made="$header.$payload.$(sign_b64url "$tmp/rfc.pem" "$header.$payload")"
[ "$made" = "$rfc_jws" ] || { echo "RFC 8037 A.4: OpenSSL gives $made" >&2; exit 1; }
printf '%s' "$made" >rfc8037-a4.jws

# ---- test keys --------------------------------------------------------------------------------
: >keys.txt
for kid in test-2026 test-2027; do
  printf 'lintel test key %s' "$kid" | openssl dgst -sha256 -binary >"$tmp/$kid.seed"
  key_from_seed "$tmp/$kid.seed" "$tmp/$kid.pem"
  [ -s keys.txt ] && printf '\n' >>keys.txt
  printf '%s %s %s' "$kid" "$(xxd -p -c 64 "$tmp/$kid.seed")" "$(public_b64url "$tmp/$kid.pem")" >>keys.txt
done

jws() {  # name kid payload: writes <name>.payload.json and <name>.jws signed by kid's key
  printf '%s' "$3" >"$1.payload.json"
  local h p
  h=$(printf '{"alg":"EdDSA","kid":"%s"}' "$2" | b64url)
  p=$(b64url <"$1.payload.json")
  printf '%s' "$h.$p.$(sign_b64url "$tmp/$2.pem" "$h.$p")" >"$1.jws"
}

jws head test-2026 '{"type":"head","site":"maple-court","gateway":"gw-1","epoch":3,"version":43,"issued_at":"2026-11-23T10:00:00Z","expires_at":"2026-11-23T11:00:00Z"}'
jws delta test-2026 '{"type":"delta","site":"maple-court","gateway":"gw-1","epoch":3,"version":43,"prev":42,"issued_at":"2026-11-23T10:00:00Z","ops":[{"op":"put","kind":"credential","data":{"id":"c-17","person":"p-alice","type":"pin","status":"active","pin":"4711"}},{"op":"delete","kind":"person","id":"p-old"}]}'
jws snapshot test-2027 '{"type":"snapshot","site":"maple-court","gateway":"gw-1","epoch":4,"version":0,"snapshot_id":"s-4-0","page":1,"pages":2,"records":{"people":[{"id":"p-alice","name":"Alice Novak","role":"tenant","groups":["residents"],"status":"active"}],"credentials":[{"id":"c-1","person":"p-alice","type":"card","status":"active","card":{"format":"h10301","facility":12,"number":4711}}]}}'
jws events-ack test-2026 '{"type":"events_ack","site":"maple-court","gateway":"gw-1","upto":1200}'
jws command test-2026 '{"type":"command","site":"maple-court","gateway":"gw-1","id":"cmd-7f3a","name":"unlock","args":{"door":"front","seconds":5},"issued_at":"2026-11-23T10:00:00Z","expires_at":"2026-11-23T10:01:00Z"}'
jws delta-other-site test-2026 '{"type":"delta","site":"other-site","gateway":"gw-1","epoch":3,"version":43,"prev":42,"issued_at":"2026-11-23T10:00:00Z","ops":[]}'

# ---- algorithm confusion ----------------------------------------------------------------------
p=$(b64url <delta.payload.json)
h=$(printf '%s' '{"alg":"none","kid":"test-2026"}' | b64url)
printf '%s' "$h.$p." >alg-none.jws
h=$(printf '%s' '{"alg":"HS256","kid":"test-2026"}' | b64url)
public_hex=$(openssl pkey -in "$tmp/test-2026.pem" -pubout -outform DER | tail -c 32 | xxd -p -c 64)
mac=$(printf '%s' "$h.$p" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$public_hex" -binary | b64url)
printf '%s' "$h.$p.$mac" >alg-hs256.jws

# ---- fuzz seeds: signed messages (the fuzz target trusts test-2026 and test-2027) and payloads --
mkdir -p "$fuzz_seeds"
for name in head delta snapshot events-ack command; do
  cp "$name.jws" "$fuzz_seeds/$name.jws"
  cp "$name.payload.json" "$fuzz_seeds/$name.payload.json"
done
echo "vectors written to $(pwd), seeds to $fuzz_seeds"
