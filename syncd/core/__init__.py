"""The pure core: normalising, mapping, diffing, merging and planning. No I/O."""
