"""The features stage: per-symbol 30-row rolling mean of Volume and median of Adj Close."""
