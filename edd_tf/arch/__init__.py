"""Floor 1, the paper's own pieces, independent of any network.

`softmax` (sn-softmax, Alg. 1 / Eq. 7-8, with its custom gradient; Gumbel
sampling; the expected entropy of Eq. 13), `schedules` (E(a), constant, LTS,
ETS Eq. 10-12, PCD, EDD Eq. 13-15) and `genotype` (NB201 arch strings, DARTS
genotypes, the read-out rules, reference genotypes). Imports nothing else of
edd_tf but edd_tf.core.
"""
