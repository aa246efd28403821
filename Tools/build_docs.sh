#!/usr/bin/env bash
# Builds the DocC documentation of the RADB library (Sources/RADB/RADB.docc: getting started,
# architecture, on-disk format, crash safety, and every public symbol) into .build/docs, with
# DocC warnings (broken symbol links, unknown articles) treated as errors. CI runs it.
#
#   bash Tools/build_docs.sh        then open .build/docs/index.html through a web server, or
#                                   `swift package --disable-sandbox preview-documentation --target RADB`
set -euo pipefail
cd "$(dirname "$0")/.."
swift package --allow-writing-to-directory .build/docs \
    generate-documentation --target RADB --output-path .build/docs --warnings-as-errors \
    --transform-for-static-hosting --hosting-base-path radb
echo "build_docs: documentation written to .build/docs"
