#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seeds from ../corpus and ../../shared/interop (when present).
# The control bytes each target expects in front of a body are added here.
set -euo pipefail
cd "$(dirname "$0")"
interop=../../shared/interop
mkdir -p corpus/{multipart_decoder,part_headers,content_type,multipart_export,json_export,roundtrip}

# multipart targets: length byte, boundary bytes (any; mapped to bchars), two split seeds, body.
seed_multipart() { # file target
    local f=$1 t=$2 name
    name=$(basename "$f" | tr -c 'A-Za-z0-9._-' _)
    { printf '\x03abc\x10\x90'; cat "$f"; } > "corpus/$t/$name"
}
for f in ../corpus/verification-result.multipart; do
    seed_multipart "$f" multipart_decoder
    seed_multipart "$f" multipart_export
done
if [ -d "$interop" ]; then
    find "$interop" -type f \( -name '*.http' -o -name original -o -name '*.seed' -o -name nested-mime \) |
        while read -r f; do seed_multipart "$f" multipart_decoder; done
fi
{ printf '\x07'; cat ../corpus/verification-result.json; } > corpus/json_export/sample.json
for f in ../corpus/errors/*.json; do { printf '\x07'; cat "$f"; } > "corpus/json_export/$(basename "$f")"; done
printf 'Content-Disposition: form-data; name="result"; filename="result.json"\r\nContent-Type: application/json' > corpus/part_headers/result
printf 'attachment; filename="a;b"; filename*=UTF-8'"''"'%%E2%%82%%AC.txt' > corpus/part_headers/ext
printf 'multipart/mixed; boundary="authenteq-export-sample"' > corpus/content_type/mixed
printf 'multipart/form-data; boundary=abc; charset=utf-8' > corpus/content_type/form
printf '\x03abc\x10\x90first\xffsecond\r\n--ab\xff\xff' > corpus/roundtrip/three
echo "seeded: $(find corpus -type f | wc -l) files"
