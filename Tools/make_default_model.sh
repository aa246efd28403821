#!/usr/bin/env bash
# Reproduces radb's default model, .data/models/default.safetensors:
# the ImageNet MobileNetV2 backbone (converted from ../shared's TFLite file by Tools/convert_tflite.py)
# plus a CAM-trained embedding head and its 200 anchors, trained on the Tiny ImageNet training
# images in ../shared (150 per class), evaluated on the Tiny ImageNet validation images.
#
# The head is trained on cached backbone features. They come from the reference TFLite runtime
# (Tools/train_features_tflite.py, ~10 ms/image) because it is several times faster here than a
# float forward pass; radb's float MobileNetV2 reproduces them with mean cosine similarity 0.98
# (measured on 200 CIFAR-10 images, see RESULTS.md "Default model").
#
# Usage: bash Tools/make_default_model.sh            (idempotent: cached steps are skipped)
# Settings (chosen on CIFAR-10, data the model never saw; see RESULTS.md): DIM, HIDDEN, MARGIN, MIN_NORM, EPOCHS, LR.
set -euo pipefail
cd "$(dirname "$0")/.."
DIM=${DIM:-128} HIDDEN=${HIDDEN:-} MARGIN=${MARGIN:-1} MIN_NORM=${MIN_NORM:-1} EPOCHS=${EPOCHS:-12} LR=${LR:-1e-2}
bash Tools/unpack-datasets.sh >/dev/null
backbone=.data/models/mobilenet_v2_1.0_224.safetensors
[ -f "$backbone" ] || python3 Tools/convert_tflite.py --out .data/models
for split in train val; do
  [ -f ".data/features/tiny-$split-tflite.f32" ] ||
    python3 Tools/train_features_tflite.py ".data/tiny-imagenet-200-mini/$split" ".data/features/tiny-$split-tflite"
done
swift build -c release --product radb-bench-train
hidden=(); [ -n "$HIDDEN" ] && hidden=(--hidden "$HIDDEN")
rm -f .data/models/default.safetensors.checkpoint   # a changed setting must not resume an old run
OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} .build/release/radb-bench-train head \
  --train .data/features/tiny-train-tflite --test .data/features/tiny-val-tflite \
  --loss cam --dim "$DIM" "${hidden[@]}" --margin "$MARGIN" --min-norm "$MIN_NORM" --epochs "$EPOCHS" --lr "$LR" \
  --seed 0 --curve-queries 500 --backbone "$backbone" --out .data/models/default.safetensors
echo "wrote .data/models/default.safetensors (+ .curve.svg); generalisation check:" >&2
[ -f .data/features/cifar10-test-tflite.f32 ] ||
  python3 Tools/train_features_tflite.py .data/cifar10/test .data/features/cifar10-test-tflite
.build/release/radb-bench-train transfer --model .data/models/default.safetensors --halves .data/features/cifar10-test-tflite
