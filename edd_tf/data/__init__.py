"""Floor 1, the input pipeline: arrays in memory and resumable tf.data pipelines.

`pipeline` (config.data -> arrays, the search split, augmentation,
`make_dataset` resumable at any step), `datasets` (the catalogue: classes,
sizes, mean/std), `image_folder` (ImageFolder trees, bad-file naming and
skipping), `tfds_source` (tfds in memory, the offline check) and `imagenet`
(ImageNet streamed from tfds). Imports only edd_tf.core.errors.
"""
