"""Floor 6, measuring a config's step: speed, memory and load-independent counts.

`profiling` (FLOPs, unfused bytes, kernels of the optimized graph, all-reduce
bytes of one traced step) and `step_benchmark` (a config's search pair or
training step built as the loops build it, timed; the JSON of
`binaries.benchmark`).
"""
