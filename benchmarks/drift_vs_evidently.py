"""Dataset drift: Slipway (from the raw reference and from a stored profile) against Evidently.

    .venv/bin/python benchmarks/drift_vs_evidently.py            # 1,000,000 rows x 20 columns
    .venv/bin/python benchmarks/drift_vs_evidently.py --quick    # 100,000 rows
    .venv/bin/python benchmarks/drift_vs_evidently.py --rows 10000000   # Slipway only

Reference and current (each ``rows`` long, 14 numerical and 6 categorical columns, 5 of them
shifted) are generated once and written as Parquet; every system runs in a fresh worker process
that reads them before the clock starts. Evidently gets an explicit ``DataDefinition`` and its
``DataDriftPreset`` defaults, which are also Slipway's defaults, so verdicts compare one to one.
Peak memory is the worker's peak RSS minus its RSS before the measured call.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / "benchmarks" / ".venv" / "bin" / "python"
NUMERICAL = [f"n{i:02d}" for i in range(14)]
CATEGORICAL = [f"c{i}" for i in range(6)]
SHIFTED = ["n00", "n03", "n07", "c0", "c3"]


def generate(rows: int, folder: Path) -> None:
    import numpy as np
    import pandas as pd

    def frame(seed: int, shifted: bool) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        cols: dict[str, object] = {}
        for i, name in enumerate(NUMERICAL):
            kind = i % 4
            if kind == 0:
                x = rng.normal(size=rows)
            elif kind == 1:
                x = rng.exponential(size=rows)
            elif kind == 2:
                x = rng.uniform(-1, 1, size=rows)
            else:
                x = rng.integers(0, 1000, size=rows).astype(np.float64)
            if shifted and name == "n00":
                x = x + 0.5
            if shifted and name == "n03":
                x = x * 1.5 + 100
            if shifted and name == "n07":
                x = np.where(rng.random(rows) < 0.3, x + 600, x)
            x[rng.random(rows) < 0.01] = np.nan
            cols[name] = x
        for i, name in enumerate(CATEGORICAL):
            k = 3 + 3 * i
            cats = np.array([f"v{j}" for j in range(k)], dtype=object)
            p = np.linspace(1, 2, k)
            if shifted and name == "c0":
                p = p[::-1] ** 3
            cols[name] = cats[rng.choice(k, size=rows, p=p / p.sum())]
            if shifted and name == "c3":
                cols[name] = np.where(rng.random(rows) < 0.2, "brand-new", cols[name])
        return pd.DataFrame(cols)

    frame(1, False).to_parquet(folder / "reference.parquet")
    frame(2, True).to_parquet(folder / "current.parquet")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_slipway(folder: Path, mode: str) -> dict[str, object]:
    import pandas as pd

    from slipway.monitoring.drift import dataset_drift, dataset_drift_from_profile
    from slipway.monitoring.profile import ReferenceProfile, compute_profile

    ref = pd.read_parquet(folder / "reference.parquet")
    cur = pd.read_parquet(folder / "current.parquet")
    extra: dict[str, object] = {}
    if mode == "profile":
        t = time.perf_counter()
        blob = compute_profile(ref).to_json_bytes()
        extra = {"profile_s": time.perf_counter() - t, "profile_bytes": len(blob)}
        profile = ReferenceProfile.from_json_bytes(blob)
        del ref
    before = _rss_mb()
    t = time.perf_counter()
    if mode == "profile":
        result = dataset_drift_from_profile(profile, cur)
    else:
        result = dataset_drift(ref, cur)
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "peak_mb": _peak_mb() - before,
        "columns": {c.column: [c.method, c.score, c.drifted] for c in result.columns},
        **extra,
    }


def worker_evidently(folder: Path) -> dict[str, object]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref = pd.read_parquet(folder / "reference.parquet")
    cur = pd.read_parquet(folder / "current.parquet")
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    before = _rss_mb()
    t = time.perf_counter()
    ref_ds = Dataset.from_pandas(ref, data_definition=definition)
    cur_ds = Dataset.from_pandas(cur, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(cur_ds, ref_ds)  # current first
    seconds = time.perf_counter() - t
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            method, score = config["method"], float(metric["value"])
            # The result carries the score only: p-values drift below, distances at or above.
            drifted = (
                score < config["threshold"] if "p_value" in method else score >= config["threshold"]
            )
            columns[config["column"]] = [method, score, drifted]
    return {"seconds": seconds, "peak_mb": _peak_mb() - before, "columns": columns}


def _run(python: Path | str, role: str, folder: Path) -> dict[str, object]:
    env = {
        **os.environ,
        "HOME": str(folder),
        "DO_NOT_TRACK": "1",
        "EVIDENTLY_DISABLE_TELEMETRY": "1",
        "PYTHONPATH": str(ROOT / "src"),
    }
    cmd = [str(python), __file__, "--worker", role, "--data", str(folder)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{role} worker failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--rows", type=int, help="rows per frame; Slipway only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = (
            worker_evidently(args.data)
            if args.worker == "evidently"
            else worker_slipway(args.data, args.worker)
        )
        print(json.dumps(result))
        return

    rows = args.rows or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="slipway-drift-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        generate(rows, folder)
        print(f"{rows:,} rows x 20 columns generated in {time.perf_counter() - t:.1f} s")
        raw = _run(sys.executable, "raw", folder)
        prof = _run(sys.executable, "profile", folder)
        peer = None if args.rows else _run(PEER_PYTHON, "evidently", folder)

    print(f"slipway raw     : {raw['seconds']:8.2f} s  peak +{raw['peak_mb']:7.0f} MB")
    print(
        f"slipway profile : {prof['seconds']:8.2f} s  peak +{prof['peak_mb']:7.0f} MB"
        f"  (profiling took {prof['profile_s']:.2f} s, {prof['profile_bytes']:,} bytes)"
    )
    summary: dict[str, object] = {
        "benchmark": "drift_vs_evidently",
        "rows": rows,
        "slipway_raw_s": raw["seconds"],
        "slipway_profile_s": prof["seconds"],
        "slipway_raw_peak_mb": raw["peak_mb"],
        "slipway_profile_peak_mb": prof["peak_mb"],
    }
    raw_cols = raw["columns"]
    prof_cols = prof["columns"]
    assert isinstance(raw_cols, dict)
    assert isinstance(prof_cols, dict)
    if peer is not None:
        peer_cols = peer["columns"]
        assert isinstance(peer_cols, dict)
        print(f"evidently       : {peer['seconds']:8.2f} s  peak +{peer['peak_mb']:7.0f} MB")
        print(f"\n{'column':8} {'evidently':>34} {'slipway raw':>28} {'profile':>10}")
        agree = agree_profile = 0
        max_diff = 0.0
        for column in NUMERICAL + CATEGORICAL:
            e, s, p = peer_cols[column], raw_cols[column], prof_cols[column]
            agree += e[2] == s[2]
            agree_profile += e[2] == p[2]
            max_diff = max(max_diff, abs(e[1] - s[1]))
            mark = "*" if column in SHIFTED else " "
            print(
                f"{column}{mark:6} {e[0][:20]:>20} {e[1]:8.4f} {e[2]!s:5}"
                f"  {s[0]:>13} {s[1]:8.4f} {s[2]!s:5}  {p[1]:8.4f} {p[2]!s:5}"
            )
        n = len(NUMERICAL) + len(CATEGORICAL)
        print(f"\nverdicts agree on {agree}/{n} columns (profile: {agree_profile}/{n})")
        print(f"largest score difference (raw vs Evidently): {max_diff:.2e}")
        summary.update(
            {
                "ratio": peer["seconds"] / raw["seconds"],  # type: ignore[operator]
                "ratio_profile": peer["seconds"] / prof["seconds"],  # type: ignore[operator]
                "agreement": agree / n,
                "agreement_profile": agree_profile / n,
                "max_score_diff": max_diff,
                "evidently_s": peer["seconds"],
                "evidently_peak_mb": peer["peak_mb"],
            }
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
