"""Train the Rasa model only when the training data or config changed.

The model is named after a hash of config.yml, bot/ and nlu_data/, so an unchanged tree reuses
models/bankcare-<hash>.tar.gz. Prints the model path on the last line of stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ["config.yml", "bot/domain", "bot/data", "nlu_data"]
TRAIN_SUFFIXES = {".yml", ".yaml", ".txt"}


def training_hash(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            if f.suffix not in TRAIN_SUFFIXES:
                continue
            digest.update(str(f.relative_to(root)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(description="train the Rasa model if its inputs changed")
    parser.add_argument("--out", default=str(ROOT / "models"))
    parser.add_argument("--rasa", default=str(ROOT / ".venv-rasa" / "bin" / "rasa"))
    args = parser.parse_args()
    out = Path(args.out)
    name = f"bankcare-{training_hash()}"
    model = out / f"{name}.tar.gz"
    if model.exists():
        print(f"模型未变化，复用 (model unchanged): {model}", file=sys.stderr)
        print(model)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    print("训练 Rasa 模型 (training the Rasa model)…", file=sys.stderr)
    cmd = [args.rasa, "train", "--config", "config.yml", "--domain", "bot/domain", "--data", "nlu_data", "bot/data",
           "--out", str(out), "--fixed-model-name", name]
    result = subprocess.run(cmd, cwd=ROOT, stdout=sys.stderr)
    if result.returncode != 0 or not model.exists():
        print("模型训练失败 (training failed)", file=sys.stderr)
        return 1
    print(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
