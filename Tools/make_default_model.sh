#!/usr/bin/env bash
# Reproduces radb's default model, Sources/RADB/Resources/Models/radb_default.safetensors
# (RESULTS.md, "Default model"): the packaged ImageNet MobileNetV2 backbone (average pooling, no
# classifier) + L2 -> centre -> PCA whitening (eigenvalue power 0.25, shrinkage 1.0) -> L2, fitted
# on radb's own features of Tiny ImageNet classes 0-99 (2,000 images; Tools/embedding_subsets.py).
# The recipe is the candidate with the best validation mAP on the fit classes; the script also
# prints the whole candidate table (evaluation on Tiny ImageNet 100-199, CIFAR-10, Fashion-MNIST).
#
# Usage: bash Tools/make_default_model.sh      (feature extraction is cached under .data/emb/)
set -euo pipefail
cd "$(dirname "$0")/.."
M=Sources/RADB/Resources/Models
bash Tools/embedding_features.sh v2-224
[ -f .data/emb/feat/tflite-v1/fmnist-q.f32 ] || python3 Tools/tflite_embedding_peer.py
R="radb V2 224 avg, L2-PCAw1280 a=0.25 s=1.0-L2"
OPENBLAS_NUM_THREADS=1 python3 Tools/embedding_candidates.py --save-whitening "$R=.data/emb/whiten-v2-avg.npz"
python3 Tools/make_embedding_model.py --backbone $M/mobilenet_v2_1.0_224.safetensors --out $M/radb_default.safetensors \
  --pooling avg --whitening .data/emb/whiten-v2-avg.npz --l2-features 1 --l2-output 1 --drop-classifier \
  --meta 'whiten_recipe=L2 -> centre -> PCA-whiten (eigenvalue power 0.25, shrinkage 1.0 x mean eigenvalue), 1280 -> 1280 -> L2' \
  --meta 'whiten_fit=radb MobileNetV2 224 avg-pooled features of Tiny ImageNet train classes 0-99 (sorted wnids), first 20 images per class (Tools/embedding_subsets.py tin-fit)'
