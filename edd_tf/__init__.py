"""edd_tf: differentiable architecture search with small temperatures (TF 2 / Keras 3).

The two entry points are `edd_tf.search.run(config, workdir)` and
`edd_tf.train.run(config, workdir)`; edd_tf/README.md maps the packages.

Importing edd_tf before TensorFlow turns TensorFlow's oneDNN CPU kernels on
unless TF_ENABLE_ONEDNN_OPTS is set (edd_tf/core/kernels.py says why).
"""

from edd_tf.core import kernels as _kernels

_kernels.apply_default()
