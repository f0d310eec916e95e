#!/usr/bin/env python
"""Paired bootstrap over notices between two configs' saved leave-one-issuer-kind-out predictions.

    python experiments/bootstrap.py A.csv B.csv [--source real]

A and B are out-of-fold prediction files (``results/oof/<config>.csv`` from benchmark.py, or the files
cv_variants.py writes with ``--oof``); prints macro-F1 of A minus B on their common ``source`` rows with a
95% interval from resampling whole notices, as benchmark.py does for its top two configs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark import paired_bootstrap_files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--source", default="real", help="real | synthetic | '' for every row")
    args = parser.parse_args()
    r = paired_bootstrap_files(args.a, args.b, source=args.source)
    print(f"{args.a.stem} minus {args.b.stem} on {r['measures']} {args.source or 'all'} measures of {r['notices']} "
          f"notices: {r['difference']:+.3f} (95% interval {r['low']:+.3f} to {r['high']:+.3f}); "
          f"A ahead in {r['share_a_better']:.0%} of {r['replicates']} replicates")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
