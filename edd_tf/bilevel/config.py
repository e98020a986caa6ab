"""The search config: every field a search may set (`default_config`) and which may change.

`search.check_config` validates a config against the registries; this module
only holds the defaults (the NB201 recipe's values) and the resume rules
(`EXPERIMENT_FIELDS`, `RESUMABLE_CHANGES`), so edd_tf/search.py stays the
task itself.
"""

import ml_collections

from edd_tf.data import pipeline as data_lib

UPDATE_ORDERS = ('w_then_a', 'a_then_w')
ENTROPY_SOURCES = ('alphas', 'tempered')
EXPECTATION_MODES = ('init', 'epoch')
GENOTYPE_FILE = 'genotype.json'


def default_config():
  """Every field a search config may set, with the NB201 recipe's values.

  Experiment files in configs/ start from this and override; the binary locks
  the result, so a misspelt key on the command line is an error.
  """
  c = ml_collections.ConfigDict()
  c.seed = 0
  # 'default' (one device) or 'mirrored' (every local GPU, else the CPU).
  c.distribute = 'default'
  # Numerics (WORKSPACE "Precision, XLA and synchronized BatchNorm"): precision
  # 'float32' | 'mixed_bfloat16' | 'mixed_float16' (16-bit layers on float32 variables;
  # alphas, softmax, logits, losses float32; fp16 adds loss scaling); jit_compile (XLA);
  # sync_batch_norm: BatchNorm statistics over the global batch across replicas.
  c.precision = 'float32'
  c.jit_compile = False
  c.sync_batch_norm = False
  c.space = 'nb201'        # spaces.SPACES: nb201, nb201_no_none, darts, s1, s2, s3, s4.
  c.method = 'darts'       # methods.METHODS (darts, darts_2nd, pc_darts, gdas, rivals).
  c.data = data_lib.default_data_config()
  c.model = ml_collections.ConfigDict(dict(
      channels=16,
      cells_per_stage=5,     # NB201: cells per stage N.
      layers=8,              # DARTS family: number of cells.
      partial_channels=1,    # DARTS family: PC-DARTS K (ops see channels / K).
      # DARTS-'s auxiliary skip beta * aux(x) on every edge; only a method with
      # `mixes_aux_skip` (darts_minus) sets beta, so others refuse it.
      aux_skip=False,
      fused=True))           # NB201: per-source fused cell (same maths, faster).
  # Mixing weights: 'plain' = softmax(alphas / t); 'sn' = sn-softmax (Alg. 1)
  # with exactly one of s (> 1; noise temperature s * t) or st (> 0; fixed
  # noise temperature). 0 means "not set".
  c.softmax = ml_collections.ConfigDict(dict(kind='sn', s=0.0, st=1.0))
  c.schedule = ml_collections.ConfigDict(dict(
      name='edd', t0=1.0, t_target=1e-3, lam=0.06, rho=0.5, warmup_epochs=0, cycle_epochs=10,
      entropy='alphas',      # EDD's H in Eq. 14: of softmax(A) (Eq. 13 as written) or softmax(A/t).
      expectation='init'))   # E(a) measured once at initialisation (Alg. 2) or every epoch.
  c.search = ml_collections.ConfigDict(dict(
      epochs=50, batch_size=64, train_portion=0.5,
      # 'bilevel': weights on train_portion of the training set, alphas on the
      # rest; 'erm': both on the full set, two shuffled streams (GAEA-ERM).
      data_mode='bilevel',
      order='w_then_a',        # AutoDL DARTS-V1 (NB201): weight step, then alpha step.
      arch_warmup_epochs=0,    # Epochs with frozen alphas (PC-DARTS: 15).
      eval_examples=0,         # Validation images for the discretized accuracy (0 = all).
      eval_batch_size=256,
      log_every_steps=50,      # TensorBoard step summaries every N steps.
      # Step metrics are read back to the host (progress, NaN guard) every N
      # steps: reading waits for the step, so on accelerators N > 1 keeps
      # steps queued back to back.
      metrics_every_steps=10,
      # Step pairs run per tf.function call (core/multi_step.py): same result
      # as 1; saves the per-call overhead (WORKSPACE "Several steps per call").
      steps_per_call=1,
      # The largest eigenvalue of the alpha Hessian of the validation loss
      # (bilevel/hessian.py) after every N-th epoch and the last, into the
      # history and TensorBoard; 0 = off. DARTS-ES needs it (2 in R-DARTS).
      hessian_every_epochs=0,
      # R-DARTS(DP) (bilevel/regularisation.py): drop path drop_path_max * e / (E-1) on
      # every mixed edge; cutout (length) with probability e / (E-1) ('ramp') or 1.
      drop_path_max=0.0, cutout=0, cutout_schedule='ramp'))
  # What the search does over time (edd_tf/procedures): 'none' runs every
  # epoch and returns the last genotype; 'darts_es' stops early (R-DARTS).
  # A procedure's own settings sit beside the name (see its config in configs/).
  c.procedure = ml_collections.ConfigDict(dict(name='none'))
  c.optim = ml_collections.ConfigDict(dict(
      # NB201 recipe (reference sect. 2.6): SGD nesterov, wd 5e-4 coupled to the
      # gradient, cosine 0.025 -> 0.001 per epoch, grad-norm clip 5.
      weights=ml_collections.ConfigDict(dict(
          lr=0.025, lr_min=0.001, momentum=0.9, nesterov=True, weight_decay=5e-4, grad_clip=5.0)),
      # Adam 3e-4, betas (0.5, 0.999), L2 1e-3 coupled; grad_clip > 0 clips the
      # alpha gradient norm (Table 1 "clip"), 0 = off.
      arch=ml_collections.ConfigDict(dict(
          lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0))))
  # NB201 results table for the found cell: '' = the shipped one (the
  # cifar10-valid split), 'none' = off; nats_bench = the official NATS-Bench
  # topology file (needs the optional `nats_bench` package), which adds the
  # papers' 50k-trained CIFAR-10 test column.
  c.benchmark = ml_collections.ConfigDict(dict(nb201_table='', nats_bench=''))
  return c


# Fields that define the experiment: never changed in a workdir, even with
# allow_config_change.
EXPERIMENT_FIELDS = ('seed', 'space', 'method', 'model', 'data.name', 'data.source',
                     'data.train_examples', 'data.image_size', 'data.fingerprint',
                     'search.train_portion', 'search.data_mode')
# Fields that may change between a run and its resumption; any other change
# makes the checkpoint a different experiment.
RESUMABLE_CHANGES = ('search.epochs', 'search.log_every_steps', 'search.metrics_every_steps',
                     'search.steps_per_call',
                     'search.eval_batch_size', 'benchmark.nb201_table', 'benchmark.nats_bench',
                     'data.path', 'data.data_dir', 'data.download', 'data.skip_bad_images',
                     'distribute', 'jit_compile')
