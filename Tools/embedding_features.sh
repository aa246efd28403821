#!/usr/bin/env bash
# Extracts the pooled backbone features of the default-model selection protocol with radb's own
# engine (RESULTS.md, "Default model"): every subset of Tools/embedding_subsets.py goes through
# each candidate network once; `avg+gem` pooling returns [mean | GeM p=3] from one forward pass.
# Cached: .data/emb/feat/<variant>/<subset>.{f32,json} (FeatureCache layout); reruns skip them.
# v2-224 runs on the full subsets; the costlier candidates (v2-256: input 256; v1-224: MobileNetV1,
# ~1.9x the multiply-adds) on the -mini subsets only (CPU budget of a shared 2-core machine).
#
# Usage: bash Tools/embedding_features.sh [variant ...]   (default: v2-224 v2-256 v1-224)
set -euo pipefail
cd "$(dirname "$0")/.."
M=Sources/RADB/Resources/Models
bash Tools/unpack-datasets.sh >/dev/null
python3 Tools/embedding_subsets.py
swift build -c release --product radb-bench-train >&2
mkdir -p .data/emb/models
model() {   # model VARIANT -> path of its model file (written on first use)
  local out=.data/emb/models/$1.safetensors
  case $1 in
    v2-224) python3 Tools/make_embedding_model.py --backbone $M/mobilenet_v2_1.0_224.safetensors --out $out --pooling avg+gem --drop-classifier ;;
    v2-256) python3 Tools/make_embedding_model.py --backbone $M/mobilenet_v2_1.0_224.safetensors --out $out --pooling avg+gem --input-size 256 --drop-classifier ;;
    v1-224) python3 Tools/make_embedding_model.py --backbone $M/mobilenet_v1_1.0_224_embedding.safetensors --out $out --pooling avg+gem ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac >&2
  echo $out
}
for v in "${@:-v2-224 v2-256 v1-224}"; do
  for v1 in $v; do
    m=$(model $v1)
    suffix=-mini; [ $v1 = v2-224 ] && suffix=
    for s0 in tin-fit tin-db tin-q cifar-db cifar-q fmnist-db fmnist-q; do
      s=$s0$suffix
      [ -f .data/emb/feat/$v1/$s.f32 ] && continue
      nice -n 5 .build/release/radb-bench-train features --model $m --root .data/subsets/$s --out .data/emb/feat/$v1/$s 2>&1 | tail -1 >&2
    done
  done
done
