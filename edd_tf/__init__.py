"""edd_tf: differentiable architecture search with small temperatures (TF 2 / Keras 3).

The two entry points are `edd_tf.search.run(config, workdir)` and
`edd_tf.train.run(config, workdir)`; edd_tf/README.md maps the packages.
"""
