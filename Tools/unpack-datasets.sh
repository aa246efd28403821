#!/usr/bin/env bash
# Unpacks the shared datasets into .data/ (git-ignored) for tests, tools and benchmarks.
# Idempotent; skips quietly what ../shared does not have.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${RADB_SHARED:-../shared}
mkdir -p .data
if [ -f "$shared/datasets/cifar10.tar.gz" ] && [ ! -d .data/cifar10 ]; then
  tar -xzf "$shared/datasets/cifar10.tar.gz" -C .data
fi
if [ -f "$shared/datasets/tiny-imagenet-200-mini.tar.gz" ] && [ ! -d .data/tiny-imagenet-200-mini ]; then
  tar -xzf "$shared/datasets/tiny-imagenet-200-mini.tar.gz" -C .data
fi
ls .data
