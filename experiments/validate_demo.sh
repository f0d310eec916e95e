#!/usr/bin/env bash
# The README's `classify validate` sample: a model trained without the science bureaus predicts the five seed
# notices (a kind of issuer it never saw); a blind stratified sample of 100 is "coded" with the corpus's labels,
# which stand in for the coders; then validate. Everything goes to a temporary store and folder (or $OUT).
#   bash experiments/validate_demo.sh [CONFIG]        (default configs/ensemble_svm_encoder.yaml, ~3 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/ensemble_svm_encoder.yaml}
OUT=${OUT:-$(mktemp -d)}
export MLFLOW_TRACKING_URI="sqlite:///$OUT/mlflow.db"
KINDS="[audit,education,finance_bureau,health,hospital,line_bureau,local_government,mass_organisation,media,other,propaganda_united_front,state_firm,university]"
classify train --config "$CONFIG" --set "data.issuer_kinds=$KINDS" --quiet > "$OUT/train.log"
classify predict seeds/ --model models:/measure-classifier@candidate --out "$OUT/predictions.jsonl" --quiet
classify sample "$OUT/predictions.jsonl" --n 100 --out "$OUT/sample.jsonl" --seed 1
python - "$OUT" <<'PY'
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
labels = {}
for line in open("data/measures.jsonl", encoding="utf-8"):
    row = json.loads(line)
    labels[row["id"]] = row["label"]
sample = [json.loads(line) for line in open(out / "sample.jsonl", encoding="utf-8")]
with open(out / "annotations.jsonl", "w", encoding="utf-8") as f:
    for row in sample:
        f.write(json.dumps({"id": row["id"], "label": labels[row["id"]], "annotator": "corpus"}) + "\n")
predictions = [json.loads(line) for line in open(out / "predictions.jsonl", encoding="utf-8")]
right = sum(labels[p["id"]] == p["label"] for p in predictions)
print(f"truth (every measure is in the corpus): accuracy {right / len(predictions):.1%}", file=sys.stderr)
PY
classify validate "$OUT/predictions.jsonl" "$OUT/annotations.jsonl" --sample "$OUT/sample.jsonl" \
  --model models:/measure-classifier@candidate --by issuer_kind,year --json "$OUT/validated.json"
echo "files in $OUT" >&2
