"""Experiments on scored runs: metadata slices, the comparison of two runs, gate calibration from labelled rows."""
