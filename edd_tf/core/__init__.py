"""Floor 0, what every stage stands on: the loop skeleton and its services.

`loop` (workdir, lock, resume, epochs, NaN guard, SIGTERM, summaries) runs a
`loop.Task`; `optim` (the one gradient pipeline, LR schedules, loss scaling),
`precision` (config.precision / jit_compile / sync_batch_norm), `distribute`
(strategy from config.distribute), `workdir` (prepare, lock, atomic JSON,
config diffs), `checkpointing` (complete Keras checkpoints, damaged-checkpoint
fallback), `summaries` (TensorBoard of a search epoch) and `errors` (typed
one-line errors). Imports nothing else of edd_tf.
"""
