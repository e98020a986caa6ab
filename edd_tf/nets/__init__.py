"""Floor 2, what every space builds from: candidate ops, mixed ops, final networks.

`ops` (the OPS registry, PyTorch-exact padding, fused PyTorch-semantics
BatchNorm), the mixed operation of a search edge and its fused blocks, and
`finalnet` (the discrete NB201 / DARTS CIFAR / DARTS ImageNet networks of a
genotype). Imports only edd_tf.arch and edd_tf.core.
"""
