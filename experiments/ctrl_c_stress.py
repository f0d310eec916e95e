"""Ctrl-C and SIGTERM at random moments of a real ``classify train``: every outcome must be clean.

Trains once into a temporary SQLite store, then starts ``classify train --promote`` again and again
and sends SIGINT or SIGTERM after a random delay. A run is clean when it either finished (exit 0, exactly
one new registered version) or stopped (exit 130 for SIGINT, 143 for SIGTERM, or killed by the signal;
the one-line "nothing was registered" message, no traceback, registry versions and aliases unchanged). Prints one line per run and a summary; exits 1 on any
unclean run. This is how the "database is locked" failure of an interrupt in the middle of a
store write was found; it is too slow and too timing-dependent for the test suite.

    python experiments/ctrl_c_stress.py --runs 30
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# 130 from classify itself; -SIGINT when Python re-raises the signal at exit, which it does if the
# Ctrl-C landed while a C extension was running Python code (seen during start-up imports). A shell
# shows 130 for both.
STOPPED = {signal.SIGINT: (130, -signal.SIGINT), signal.SIGTERM: (143, -signal.SIGTERM)}
MESSAGE = {signal.SIGINT: "interrupted: nothing was registered and no alias moved",
           signal.SIGTERM: "terminated (SIGTERM): nothing was registered and no alias moved"}


def registry_state(client, name: str) -> tuple[list[str], dict[str, str]]:
    versions = sorted(int(mv.version) for mv in client.search_model_versions(f"name = '{name}'"))
    aliases = dict(client.get_registered_model(name).aliases)
    return [str(v) for v in versions], {k: str(v) for k, v in aliases.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--config", default=str(REPO / "configs" / "tfidf_logreg.yaml"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--signals", choices=["INT", "TERM", "both"], default="both",
                        help="which signal to send (both: alternate)")
    args = parser.parse_args()

    from mlflow import MlflowClient

    # Started in the background (`cmd &`), this process and its children ignore SIGINT; a child
    # that ignores it would just finish every run.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        env = dict(os.environ, MLFLOW_TRACKING_URI=uri)
        cmd = [sys.executable, "-m", "classify.cli", "train", "--config", args.config, "--promote", "--quiet",
               "--set", f"data.path={REPO / 'data' / 'measures.jsonl'}", "--set", "data.issuer_kinds=[science_bureau]",
               "--set", "evaluation.schemes=[leave_one_notice_out]"]
        subprocess.run(cmd, cwd=tmp, env=env, check=True, capture_output=True)  # creates store and caches
        t0 = time.monotonic()
        subprocess.run(cmd, cwd=tmp, env=env, check=True, capture_output=True)
        full = time.monotonic() - t0
        print(f"an uninterrupted train: {full:.1f} s; interrupting at 0.5 .. {1.2 * full:.1f} s")
        client = MlflowClient(uri, uri)
        name = "measure-classifier"
        rng = random.Random(args.seed)
        outcomes: Counter[str] = Counter()
        for i in range(args.runs):
            before = registry_state(client, name)
            delay = rng.uniform(0.5, 1.2 * full)
            sig = {"INT": signal.SIGINT, "TERM": signal.SIGTERM}.get(args.signals) or \
                (signal.SIGINT, signal.SIGTERM)[i % 2]
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=300)
            after = registry_state(client, name)
            if proc.returncode == 0 and len(after[0]) == len(before[0]) + 1:
                outcome = "finished"
            elif (proc.returncode in STOPPED[sig] and after == before and "Traceback" not in err
                  and (MESSAGE[sig] in err or proc.returncode < 0)):
                outcome = "stopped"
            else:
                outcome = "UNCLEAN"
            outcomes[outcome] += 1
            print(f"{i:3d}  {signal.Signals(sig).name} at {delay:5.2f} s  exit {proc.returncode:4d}  {outcome}", flush=True)
            if outcome == "UNCLEAN":
                print(err[-2000:])
    print(", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
    return 1 if outcomes["UNCLEAN"] else 0


if __name__ == "__main__":
    sys.exit(main())
