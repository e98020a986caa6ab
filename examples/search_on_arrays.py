# %% [markdown]
# # A search from Python on your own arrays
#
# `edd_tf.api.search` runs what `python -m binaries.search` runs, with the same configs, on images
# and labels you hand over from Python: uint8 `[N, H, W, 3]` pixels and integer labels (or a
# `tf.data.Dataset` of them). Here "your arrays" are CIFAR-10 images shipped with the package, so the
# script runs anywhere; swap in your own. The search resumes if you run the script again (same
# workdir, same arrays), and then plots its history.
#
# Run it as a script (`python examples/search_on_arrays.py`) or open it as a notebook (the `# %%`
# cells: VS Code, or Jupyter with jupytext). `EDD_EXAMPLES_TINY=1` shrinks it to seconds (the tests
# run it so); `EDD_EXAMPLES_OUT` picks the output directory.

# %%
import os
import pathlib

import matplotlib
matplotlib.use('Agg')   # no display needed; the figure is written to a file
import matplotlib.pyplot as plt

from edd_tf import api
from edd_tf.data import pipeline

TINY = os.environ.get('EDD_EXAMPLES_TINY') == '1'
OUT = pathlib.Path(os.environ.get('EDD_EXAMPLES_OUT', '/tmp/edd/examples')) / 'search_on_arrays'

# %% [markdown]
# ## Your data
# Any uint8 images with integer labels 0..K-1 (K >= 2). Images of another size are resized to the
# config's `data.image_size` (0: the dataset's, 32 px for CIFAR).

# %%
sample = pipeline.load_sample('cifar10', 'train', 512 if TINY else 4000, 'train_examples')
images, labels = sample.images, sample.labels
print(images.shape, images.dtype, labels[:10])

# %% [markdown]
# ## The search
# The config is EDD-DARTS on NB201 (`configs/nb201_cifar10_edd.py`), sized for a CPU by overrides;
# an unknown field or a value of the wrong type is named in the error.

# %%
config = api.load_config('nb201_cifar10_edd', {
    'model.channels': 4 if TINY else 8,
    'model.cells_per_stage': 1,
    'search.epochs': 2 if TINY else 10,
    'search.batch_size': 32 if TINY else 64,
    'search.eval_examples': 64 if TINY else 1000,
    'optim.arch.lr': 3e-3,
})
found = api.search(config, OUT / 'search', data=(images, labels))
print('found cell:', found.genotype)
if found.benchmark is not None:
  print(f"NAS-Bench-201 says of it: CIFAR-10 test {found.benchmark['cifar10_test']:.2f} %")

# %% [markdown]
# ## Its history
# One dict per epoch: the supernet's losses and accuracies, the discretized cell's accuracy, the
# temperature and the entropy of the mixing weights (the paper's Fig. 4).

# %%
epochs = [r['epoch'] for r in found.history]
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
left.plot(epochs, [r['val_acc'] for r in found.history], 'o-', label='supernet (val)')
left.plot(epochs, [r['discrete_acc'] for r in found.history], 's-', label='discretized cell')
left.set(xlabel='epoch', ylabel='accuracy')
left.legend()
right.plot(epochs, [r['entropy'] for r in found.history], 'o-', label='E(H(beta))')
right.plot(epochs, [r['temperature'] for r in found.history], 's-', label='temperature')
right.set(xlabel='epoch', yscale='log')
right.legend()
fig.tight_layout()
fig.savefig(OUT / 'history.png', dpi=100)
print('history plotted in', OUT / 'history.png')
