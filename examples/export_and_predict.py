# %% [markdown]
# # Train a found cell, export it to SavedModel and TFLite, and call both
#
# `edd_tf.api.train` trains a cell from scratch as `python -m binaries.train` does (here a cell
# given as an NB201 string; a search workdir from `api.search` works the same), on arrays from
# Python. `api.export` writes the SavedModel for TF Serving and `model.tflite` for devices; both
# take uint8 pixels and return class probabilities, and `api.predict` calls either.
#
# `EDD_EXAMPLES_TINY=1` shrinks it to seconds (the tests run it so); `EDD_EXAMPLES_OUT` picks the
# output directory.

# %%
import os
import pathlib

import numpy as np

from edd_tf import api
from edd_tf.data import pipeline

TINY = os.environ.get('EDD_EXAMPLES_TINY') == '1'
OUT = pathlib.Path(os.environ.get('EDD_EXAMPLES_OUT', '/tmp/edd/examples')) / 'export_and_predict'
CELL = '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'

# %% [markdown]
# ## Data and training
# Training takes a 'train' and a 'test' split. The network expects normalised images; the export
# and the TFLite file normalise inside, so they take raw uint8 pixels.

# %%
train = pipeline.load_sample('cifar10', 'train', 256 if TINY else 5000, 'train_examples')
test = pipeline.load_sample('cifar10', 'test', 64 if TINY else 1000, 'test_examples')
config = api.load_config('train_quick', {
    'model.channels': 4 if TINY else 8,
    'train.epochs': 1 if TINY else 10,
    'data.train_examples': 0, 'data.test_examples': 0,   # all of the arrays given
})
trained = api.train(config, OUT / 'train', genotype=CELL,
                    data={'train': (train.images, train.labels),
                          'test': (test.images, test.labels)})
print(f'test accuracy {trained.test_accuracy:.3f}')
trained.model.summary()

# %% [markdown]
# ## Export, and call both files
# TFLite in float32 here; 'dynamic' (int8 weights) and 'int8' (integer only) are smaller. The
# file is checked in a fresh interpreter process before it is written; metadata.json reports its
# size and its agreement with the network.

# %%
metadata = api.export(trained.workdir, OUT / 'export', tflite='float32', overwrite=True,
                      representative_images=train.images[:32])
print('TFLite:', metadata['tflite'])
saved_model = api.predict(OUT / 'export', test.images)
tflite = api.predict(OUT / 'export' / 'model.tflite', test.images)
agreement = float(np.mean(saved_model.argmax(1) == tflite.argmax(1)))
print(f'SavedModel and TFLite agree on {agreement:.1%} of {len(test.images)} test images; '
      f'largest probability difference {np.abs(saved_model - tflite).max():.2e}')
