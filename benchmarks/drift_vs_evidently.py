"""Dataset drift: Slipway (from the raw reference and from a stored profile) against Evidently.

    .venv/bin/python benchmarks/drift_vs_evidently.py            # 1,000,000 rows x 20 columns
    .venv/bin/python benchmarks/drift_vs_evidently.py --quick    # 100,000 rows
    .venv/bin/python benchmarks/drift_vs_evidently.py --rows 10000000   # Slipway only

Reference and current (each ``rows`` long, 14 numerical and 6 categorical columns, 5 of them
shifted) are generated once and written as Parquet (in row groups of 1,000,000 generated one at
a time, so 10M rows do not have to fit in memory twice); every system runs in a fresh worker
process that reads them before the clock starts. Evidently gets an explicit ``DataDefinition``
and its ``DataDriftPreset`` defaults, which are also Slipway's defaults, so verdicts compare one
to one. Slipway runs on its default number of threads (one per CPU, at most 8; ``--workers``
sets it) and once more on one thread, reported as ``ratio_1_thread``.

Peak memory: the worker resets the kernel's high-water mark (``/proc/self/clear_refs``) right
before the timed call, so ``peak_mb`` is the peak RSS during the call minus the RSS before it,
and ``peak_rss_mb`` the worker's whole peak RSS during the call (the loaded data included).

With ``--rows``, Evidently is not run: its users report it running out of memory at 10M rows
(evidentlyai/evidently#1526: a 10M-row reference "gets killed (possibly due to OOM)").
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / "benchmarks" / ".venv" / "bin" / "python"
NUMERICAL = [f"n{i:02d}" for i in range(14)]
CATEGORICAL = [f"c{i}" for i in range(6)]
SHIFTED = ["n00", "n03", "n07", "c0", "c3"]


CHUNK = 1_000_000
"""Rows generated (and written as one Parquet row group) at a time."""


def generate(rows: int, folder: Path) -> None:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    def frame(seed: int | tuple[int, int], rows: int, shifted: bool) -> pd.DataFrame:
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

    for seed, shifted, name in [(1, False, "reference"), (2, True, "current")]:
        if rows <= CHUNK:  # the data every ≤ 1M-row figure was measured on
            frame(seed, rows, shifted).to_parquet(folder / f"{name}.parquet")
            continue
        writer: pq.ParquetWriter | None = None
        for index, start in enumerate(range(0, rows, CHUNK)):
            chunk_seed = seed if index == 0 else (seed, index)
            table = pa.Table.from_pandas(
                frame(chunk_seed, min(CHUNK, rows - start), shifted), preserve_index=False
            )
            if writer is None:
                writer = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _peak_mb(reset: bool) -> float:
    """Peak RSS since :func:`_reset_peak` (``reset``), else over the process's life."""
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames, with what Arrow's allocator kept cached while reading handed back to the
    OS (at 10M rows that is ~2 GB that is not data), so peak RSS is about the data and the call.
    """
    import pandas as pd
    import pyarrow as pa

    ref = pd.read_parquet(folder / "reference.parquet")
    cur = pd.read_parquet(folder / "current.parquet")
    pa.default_memory_pool().release_unused()
    return ref, cur


def worker_slipway(folder: Path, mode: str, workers: int | None) -> dict[str, object]:
    from slipway.monitoring.drift import dataset_drift, dataset_drift_from_profile, default_workers
    from slipway.monitoring.profile import ReferenceProfile, compute_profile

    ref, cur = _load(folder)
    extra: dict[str, object] = {"workers": default_workers() if workers is None else workers}
    if mode == "profile":
        t = time.perf_counter()
        blob = compute_profile(ref, workers=workers).to_json_bytes()
        extra.update(profile_s=time.perf_counter() - t, profile_bytes=len(blob))
        profile = ReferenceProfile.from_json_bytes(blob)
        del ref
    before = _rss_mb()
    reset = _reset_peak()
    t = time.perf_counter()
    if mode == "profile":
        result = dataset_drift_from_profile(profile, cur, workers=workers)
    else:
        result = dataset_drift(ref, cur, workers=workers)
    seconds = time.perf_counter() - t
    peak = _peak_mb(reset)
    return {
        "seconds": seconds,
        "peak_mb": peak - before,
        "peak_rss_mb": peak,
        "columns": {c.column: [c.method, c.score, c.drifted] for c in result.columns},
        **extra,
    }


def worker_evidently(folder: Path) -> dict[str, object]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = _load(folder)
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    before = _rss_mb()
    reset = _reset_peak()
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
    peak = _peak_mb(reset)
    return {"seconds": seconds, "peak_mb": peak - before, "peak_rss_mb": peak, "columns": columns}


def _run(
    python: Path | str, role: str, folder: Path, workers: int | None = None
) -> dict[str, object]:
    env = {
        **os.environ,
        "HOME": str(folder),
        "DO_NOT_TRACK": "1",
        "EVIDENTLY_DISABLE_TELEMETRY": "1",
        "PYTHONPATH": str(ROOT / "src"),
    }
    cmd = [str(python), __file__, "--worker", role, "--data", str(folder)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{role} worker failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _median_run(
    repeat: int, python: Path | str, role: str, folder: Path, workers: int | None = None
) -> dict[str, object]:
    """The run with the median time of ``repeat`` fresh workers."""
    runs = sorted(
        (_run(python, role, folder, workers) for _ in range(repeat)),
        key=lambda r: float(r["seconds"]),  # type: ignore[arg-type]
    )
    return runs[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--rows", type=int, help="rows per frame; Slipway only")
    parser.add_argument("--workers", type=int, help="Slipway's threads (default: its own)")
    parser.add_argument("--repeat", type=int, default=1, help="median of N runs per system")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = (
            worker_evidently(args.data)
            if args.worker == "evidently"
            else worker_slipway(args.data, args.worker, args.workers)
        )
        print(json.dumps(result))
        return

    rows = args.rows or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="slipway-drift-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        generate(rows, folder)
        print(f"{rows:,} rows x 20 columns generated in {time.perf_counter() - t:.1f} s")
        raw = _median_run(args.repeat, sys.executable, "raw", folder, args.workers)
        prof = _median_run(args.repeat, sys.executable, "profile", folder, args.workers)
        raw1 = (
            None
            if raw["workers"] == 1
            else _median_run(args.repeat, sys.executable, "raw", folder, 1)
        )
        peer = None if args.rows else _median_run(args.repeat, PEER_PYTHON, "evidently", folder)

    print(
        f"slipway raw     : {raw['seconds']:8.2f} s  peak +{raw['peak_mb']:7.0f} MB"
        f"  (peak RSS {raw['peak_rss_mb']:,.0f} MB, {raw['workers']} threads)"
    )
    if raw1 is not None:
        print(
            f"slipway raw     : {raw1['seconds']:8.2f} s  peak +{raw1['peak_mb']:7.0f} MB"
            f"  (peak RSS {raw1['peak_rss_mb']:,.0f} MB, 1 thread)"
        )
    print(
        f"slipway profile : {prof['seconds']:8.2f} s  peak +{prof['peak_mb']:7.0f} MB"
        f"  (peak RSS {prof['peak_rss_mb']:,.0f} MB; profiling took {prof['profile_s']:.2f} s,"
        f" {prof['profile_bytes']:,} bytes)"
    )
    summary: dict[str, object] = {
        "benchmark": "drift_vs_evidently",
        "rows": rows,
        "slipway_workers": raw["workers"],
        "slipway_raw_s": raw["seconds"],
        "slipway_raw_1_thread_s": raw["seconds"] if raw1 is None else raw1["seconds"],
        "slipway_profile_s": prof["seconds"],
        "slipway_raw_peak_mb": raw["peak_mb"],
        "slipway_raw_peak_rss_mb": raw["peak_rss_mb"],
        "slipway_profile_peak_mb": prof["peak_mb"],
        "slipway_profile_peak_rss_mb": prof["peak_rss_mb"],
    }
    if peer is None:
        print(
            "evidently       : not run with --rows (its users report running out of memory "
            "at 10M rows: evidentlyai/evidently#1526)"
        )
    raw_cols = raw["columns"]
    prof_cols = prof["columns"]
    assert isinstance(raw_cols, dict)
    assert isinstance(prof_cols, dict)

    def finds_shifted(columns: dict[str, list[object]]) -> bool:
        return sorted(c for c, (_, _, drifted) in columns.items() if drifted) == sorted(SHIFTED)

    summary["finds_shifted"] = finds_shifted(raw_cols) and finds_shifted(prof_cols)
    if raw1 is not None:  # the same scores, to the bit, on one thread and on several
        summary["threads_identical"] = raw1["columns"] == raw_cols
    if peer is not None:
        peer_cols = peer["columns"]
        assert isinstance(peer_cols, dict)
        print(
            f"evidently       : {peer['seconds']:8.2f} s  peak +{peer['peak_mb']:7.0f} MB"
            f"  (peak RSS {peer['peak_rss_mb']:,.0f} MB)"
        )
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
                "ratio_1_thread": (
                    peer["seconds"] / summary["slipway_raw_1_thread_s"]  # type: ignore[operator]
                ),
                "agreement": agree / n,
                "agreement_profile": agree_profile / n,
                "evidently_finds_shifted": finds_shifted(peer_cols),
                "max_score_diff": max_diff,
                "evidently_s": peer["seconds"],
                "evidently_peak_mb": peer["peak_mb"],
            }
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
