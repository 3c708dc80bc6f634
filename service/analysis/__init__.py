"""Analysis of scored runs: summaries and slices, run comparisons, calibration, judge comparison, accuracy against
labels."""
