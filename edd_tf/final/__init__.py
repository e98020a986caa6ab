"""The found network's stage: its genotype, its model (from a config or a workdir), its steps.

`genotypes` resolves config.genotype (a search workdir, a published name, an
arch string or a literal) for config.network; `models` builds the final
network and rebuilds a training workdir's model from its checkpoint; `steps`
builds the SGD step and the evaluation step; `data` holds the training and
test pipelines; `keras_parts` gives the recipe's pieces for `model.fit`
(normalisation in the model, Cutout, the auxiliary loss, the drop-path ramp,
fine-tuning on new classes). train.py runs these as a task of core/loop.py, and
serving/export.py and perf/ reuse them; nothing here imports train.py or
search.py.
"""
