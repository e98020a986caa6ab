"""Floor 2, benchmark tables that score a found cell without training it.

`nb201_bench` (the shipped NAS-Bench-201 table, cifar10-valid / cifar100 /
ImageNet16-120 accuracies) and `nats_bench` (the official NATS-Bench topology
file, optional package, adds the 50k-trained CIFAR-10 test column).
"""
