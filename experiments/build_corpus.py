#!/usr/bin/env python
"""Kept for old notes: the corpus is built by `classify corpus build` (classify/corpus.py).

    python experiments/build_corpus.py --labels data/labels/*.jsonl [--out F] [--unlabelled-out F]
"""

import sys
from pathlib import Path

from classify.cli import main

if __name__ == "__main__":
    sys.exit(main(["corpus", "build", "--root", str(Path(__file__).resolve().parents[1]), *sys.argv[1:]]))
