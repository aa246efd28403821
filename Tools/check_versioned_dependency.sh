#!/usr/bin/env bash
# Builds and runs the README's library example in a separate package that depends on radb by
# version, as a user's package does (`.package(url: …, from: "…")`). SwiftPM refuses versioned
# dependencies whose product targets use unsafe build flags, so this also proves there are none;
# and the example must compile against the public API of the `RADB` product alone. The ```swift
# blocks of the DocC articles (Sources/RADB/RADB.docc/*.md) are built the same way, each as its
# own executable target (compiled, not run).
#
#   bash Tools/check_versioned_dependency.sh      (CI runs it; a few minutes, mostly the release build)
#
# It clones the committed HEAD of this repository into a scratch folder, tags the clone 99.0.0
# (the tag never leaves the scratch folder), extracts the README's ```swift block verbatim into
# the consumer's main.swift, builds it, and runs it in a folder holding `Pictures/` (the sample
# photos) and `query.jpg`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/radb-consumer.XXXXXX)
trap 'rm -rf "$work"' EXIT

git clone -q "$root" "$work/radb"
git -C "$work/radb" tag 99.0.0

mkdir -p "$work/consumer/Sources/consumer"
awk '/^## Using radb as a library/ { section = 1 }
     section && /^```swift/ { inside = 1; next }
     inside && /^```/ { exit }
     inside { print }' "$root/README.md" > "$work/consumer/Sources/consumer/main.swift"
if [ ! -s "$work/consumer/Sources/consumer/main.swift" ]; then
    echo "check_versioned_dependency: no \`\`\`swift block under '## Using radb as a library' in README.md" >&2
    exit 1
fi

# One executable target per DocC code block: docc-snippet-1, docc-snippet-2, …
snippets=0
targets='.executableTarget(name: "consumer", dependencies: [.product(name: "RADB", package: "radb")])'
# The README's other ```swift blocks under the same heading count as snippets too.
awk '/^## / { section = ($0 ~ /^## Using radb as a library/) }
     section && /^```swift/ { inside = 1; blocks++; next }
     inside && /^```/ { inside = 0; if (blocks > 1) printf "%c", 0; next }
     inside && blocks > 1 { print }' "$root/README.md" > "$work/readme-snippets"
for article in "$work/readme-snippets" "$root"/Sources/RADB/RADB.docc/*.md; do
    while IFS= read -r -d '' block; do
        snippets=$((snippets + 1))
        mkdir -p "$work/consumer/Sources/docc-snippet-$snippets"
        printf '%s' "$block" > "$work/consumer/Sources/docc-snippet-$snippets/main.swift"
        targets="$targets,
        .executableTarget(name: \"docc-snippet-$snippets\", dependencies: [.product(name: \"RADB\", package: \"radb\")])"
    done < <(if [ "$article" = "$work/readme-snippets" ]; then cat "$article"; else
                 awk '/^```swift/ { inside = 1; next } inside && /^```/ { inside = 0; printf "%c", 0; next } inside { print }' "$article"; fi)
done

cat > "$work/consumer/Package.swift" <<EOF
// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "consumer",
    platforms: [.macOS(.v15)],
    dependencies: [.package(url: "file://$work/radb", from: "99.0.0")],
    targets: [
        $targets
    ]
)
EOF

(cd "$work/consumer" && swift build -c release 2>&1 | tail -n 20; exit "${PIPESTATUS[0]}")

mkdir -p "$work/run"
cp -r "$root/Fixtures/photos" "$work/run/Pictures"
cp "$root/Fixtures/photos/cat_720p.jpg" "$work/run/query.jpg"
output=$(cd "$work/run" && "$work/consumer/.build/release/consumer")
echo "$output" | tail -n 5
if ! echo "$output" | grep -q "added 9, unchanged 0, failed 0"; then
    echo "check_versioned_dependency: the README example did not ingest the nine sample photos" >&2
    exit 1
fi
echo "check_versioned_dependency: the README example and $snippets README/DocC snippets build against radb 99.0.0 (by version); the example runs"
