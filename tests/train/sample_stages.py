"""The bundled sample through the real ingest and features stages (their main, in this process)."""

from __future__ import annotations

from pathlib import Path

from stages.features.program import main as features_main
from stages.ingest.ingest import main as ingest_main


def sample_features(sample_dir: Path, root: Path) -> Path:
    """Run ingest and features on ``sample_dir`` under ``root``; returns the features folder."""
    meta = sample_dir / "symbols_valid_meta.csv"
    assert ingest_main(["--prices", str(sample_dir), "--meta", str(meta), "--out", str(root / "ingest")]) == 0
    assert features_main(["--ingest", str(root / "ingest"), "--out", str(root / "features")]) == 0
    return root / "features"
