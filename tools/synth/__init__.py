"""A Kaggle-scale synthetic stock-market dataset in the layout of the Kaggle zip.

``python -m tools.synth --scale 1.0 --out data/synth/scale-1.0 --seed 0`` writes the real
``symbols_valid_meta.csv`` and one price CSV per listing (``stocks/`` or ``etfs/`` by its ETF
flag, named by its NASDAQ Symbol), with the real dataset's row-count skew, trading calendar,
number formatting and quirks. See ``tools/synth/model.py`` for what is drawn and
docs/benchmarks.md for how the benchmark uses it.
"""
