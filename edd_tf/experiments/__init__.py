"""Experiments: grids of search runs and reports of the finished ones (the top floor).

`grid` parses the grid language (axes of config fields and bundles) and applies
its overrides to configs; `sweep` plans a grid's runs and runs them as
resumable `binaries.search` subprocesses, one workdir each, recorded in
sweep.json. `finished_runs` finds finished search workdirs, checks that they
are comparable and groups them by the swept keys; `report` writes their
Markdown/CSV tables (shaped like the paper's Tables 1 and 5), `figures` the
per-epoch curves (Figs. 2 and 4) and found cells (drawn by `cell_drawing`), and
`tensorboard_hparams` a TensorBoard HParams logdir. Layering: this package may
import anything in edd_tf below it; nothing in edd_tf imports it (binaries/sweep.py
and binaries/report.py are its command lines).
"""
