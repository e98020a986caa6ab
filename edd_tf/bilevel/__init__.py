"""The bilevel step pair of the search, and what search.py records of it every epoch.

`searcher.Searcher` holds the supernet, the architecture variables, both
optimizers and the compiled weight-step / alpha-step pair (and is the
`StepContext` a method's alpha step works with); `records` builds the
per-epoch history record and looks the found cell up in a benchmark table.
This package sits on the entry points' floor: it uses spaces/, methods/ and
core/, and never imports search.py, train.py or anything above them.
"""
