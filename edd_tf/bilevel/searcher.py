"""`Searcher`: the supernet, architecture variables, optimizers and step pair of a search.

One step pair alternates the two levels of the bilevel problem (DARTS, Liu et
al. 2019, Alg. 1); config.search.order picks which comes first, 'w_then_a'
being AutoDL's DARTS-V1 (NB201):

  weights <- SGD on L_train(w, mixing(A, t))     (batch from split 1)
  A       <- method.arch_step(...)               (batch from split 2)

The space (config.space) builds the supernet and reads out the genotype; the
method (config.method) owns the architecture variables, the mixing and the
alpha step, for which the `Searcher` is the `StepContext` (methods/base.py).
The weight step's gradient pipeline is core/optim.py's, shared with training;
`search.SearchTask` drives the pair epoch by epoch.
"""

import keras
import numpy as np
import tensorflow as tf

from edd_tf import methods as methods_lib
from edd_tf import spaces
from edd_tf.core import optim
from edd_tf.bilevel import mixing_edit
from edd_tf.core import precision as precision_lib
from edd_tf.nets import batch_norm as batch_norm_lib
from edd_tf.nets import widening

# Folded into a step's seed for its drop-path masks (Searcher.drop_path).
DROP_PATH_STREAM = 7_100_003


class Searcher:
  """The supernet, architecture variables, optimizers and compiled step pair.

  It is also the `StepContext` a method's `arch_step` works with: `model`,
  `arch_tensors()`, `arch_sources()`, `temperature_tensor()`, `loss()`,
  `gradients()`, `weight_gradients()`, `arch_gradients()`, `apply_arch_gradients()`,
  `all_reduce_sum()`, `weight_lr()`, `momentum_buffers()`, `drop_path()`,
  `weight_variables`, `config`.

  With a MirroredStrategy, each replica takes its slice of the global batch
  (config.search.batch_size); gradients are all-reduced to the global-batch
  mean before clipping, so the update equals one device's on the same batch
  except for BatchNorm, whose batch statistics are per replica (as PyTorch
  DataParallel without SyncBN) unless config.sync_batch_norm.

  Numerics: the supernet's layers are built under the config.precision
  policy; with mixed_float16 each step has a dynamic `optim.LossScale`
  (`w_loss_scale`, `a_loss_scale`, checkpointed). With config.jit_compile the
  per-replica forward/backward of each step is XLA-compiled and the gradient
  pipeline (all-reduce, clip, apply) runs outside it (tf-notes sect. 1: XLA
  around strategy.run fails).

  Stages: a method may search in stages whose supernets differ in partial
  channels (`method.stage_model_configs`; DrNAS' progressive recipe). All of
  them are built up front, each with its own SGD optimizer, so the
  checkpoint's items never change; `begin_epoch` activates the stage of the
  epoch (`method.stage_of_epoch`), the first time widening the previous
  stage's weights and momenta into it (nets/widening.py), carrying the step
  count and calling `method.enter_stage`; `stage_reached` (checkpointed)
  records that, so a resumed run neither repeats nor skips the carry. The
  traced steps are rebuilt on a stage change; `method.active_ops` tells the
  new supernet which ops to skip.
  """

  def __init__(self, config, num_classes, image_size, strategy=None):
    self.config = config
    self.space = spaces.get_space(config.space)
    self.method = methods_lib.build_method(config, self.space)
    self.strategy = strategy or tf.distribute.get_strategy()
    self.precision = config.get('precision', 'float32')
    sync = config.get('sync_batch_norm', False)
    precision_lib.check_compiled_pass(
        config.get('jit_compile', False), self.strategy.num_replicas_in_sync,
        (['config.sync_batch_norm=True'] if sync else []) +
        ([f'config.method={config.method!r}'] if self.method.all_reduces_in_gradients else []))
    rng = np.random.default_rng(config.seed)
    # One supernet per stage of the search (one for every method but DrNAS'
    # progressive recipe, whose stages differ in partial channels); the active
    # one is `model`, with its own SGD optimizer `w_opt`.
    stage_configs = self.method.stage_model_configs(config.model)
    with self.strategy.scope():
      with precision_lib.policy_scope(self.precision):
        self.models = [self.space.build_supernet(num_classes, c) for c in stage_configs]
      dummy = {k: tf.constant(v) for k, v in self.space.dummy_weights().items()}
      for model in self.models:
        batch_norm_lib.synchronize_batch_norm(model, sync)
        model(tf.zeros([1, image_size, image_size, 3]), dummy)
      # Architecture variables stay float32 under any dtype policy (tf-notes sect. 10).
      self.arch = {name: keras.Variable(value, name=name, autocast=False)
                   for name, value in self.method.init_arch(rng).items()}
      self.method.build_state()
      self.temperature = tf.Variable(1.0, trainable=False, name='temperature')
      # The SGD step's coupled L2 (config.optim.weights.weight_decay unless a
      # procedure raised it: DARTS-ADA); set per epoch, not checkpointed.
      self.weight_decay = tf.Variable(float(config.optim.weights.weight_decay),
                                      trainable=False, name='weight_decay')
      # R-DARTS(DP): the drop-path probability of every mixed edge in training
      # mode, p(e) = drop_path_max * e / (E - 1), set per epoch (not checkpointed).
      self.drop_path_max = float(config.search.get('drop_path_max', 0.0))
      self.drop_path_rate = tf.Variable(0.0, trainable=False, name='drop_path_rate')
      w, a = config.optim.weights, config.optim.arch
      self.w_opts = [optim.sgd(w.lr, w.momentum, w.nesterov, model.trainable_variables)
                     for model in self.models]
      self.a_opt = optim.adam(a.lr, a.beta1, a.beta2, self.arch_variables)
      scaled = precision_lib.uses_loss_scaling(self.precision)
      self.w_loss_scale = optim.LossScale(name='w_loss_scale') if scaled else None
      self.a_loss_scale = optim.LossScale(name='a_loss_scale') if scaled else None
      # The last stage whose weights were carried over (checkpointed with a
      # multi-stage search, so a resumed run neither repeats nor skips it).
      self.stage_reached = tf.Variable(0, dtype=tf.int64, trainable=False, name='stage')
      # A search procedure's edge decisions (bilevel/mixing_edit.py); the
      # supernets apply it once `install_edit` ran. Rebuilt from the
      # procedure's state, so not checkpointed.
      self.edit = mixing_edit.MixingEdit(self.space.arch_shapes())
      # The global batch of the steps (config.search.batch_size unless a
      # procedure grows it: SGAS); set per epoch.
      self.batch_size = tf.Variable(int(config.search.batch_size), dtype=tf.int64,
                                    trainable=False, name='batch_size')
    self.edit_installed = False
    self.stage = 0
    self._build_functions()

  def _build_functions(self):
    """The traced steps of the active stage (they capture its supernet and optimizer)."""
    # The per-replica forward/backward passes, XLA-compiled under config.jit_compile.
    self._weight_gradients_fn = self._maybe_jit(self._weight_gradients)
    self._arch_gradients_fn = self._maybe_jit(
        lambda train_batch, val_batch, seed: self.method.arch_gradients(
            self, train_batch, val_batch, seed))
    self._arch_eval_fn = self._maybe_jit(self._arch_eval)
    # No autograph: the steps branch on Python values only, and converting every
    # nested layer call made tracing a DARTS supernet markedly slower.
    self.pair_step = tf.function(self._pair_step, autograph=False)
    # reduce_retracing: the last, smaller eval batch must not trace again.
    self.eval_step = tf.function(self._eval_step, reduce_retracing=True)

  # ---- stages -------------------------------------------------------------

  @property
  def model(self):
    """The supernet of the active stage."""
    return self.models[self.stage]

  @model.setter
  def model(self, model):   # tests swap in a stand-in network
    self.models[self.stage] = model

  @property
  def w_opt(self):
    """The weight optimizer of the active stage."""
    return self.w_opts[self.stage]

  @w_opt.setter
  def w_opt(self, optimizer):
    self.w_opts[self.stage] = optimizer

  def stage_checkpoint_items(self):
    """{name: trackable} of the stages after the first (none for a one-stage search)."""
    items = {}
    for i, (model, opt) in enumerate(zip(self.models[1:], self.w_opts[1:]), 1):
      items.update({f'model_{i}': model, f'model_weights_{i}': list(model.weights),
                    f'w_opt_{i}': opt})
    if len(self.models) > 1:
      items['stage'] = self.stage_reached
    return items

  def begin_epoch(self, epoch):
    """Activates the stage of `epoch`, carrying the weights into it on first entry.

    Returns {name: float} to log (the stage, for a multi-stage search).
    """
    target = self.method.stage_of_epoch(epoch)
    reached = int(self.stage_reached.numpy())
    if target < reached:
      raise ValueError(f'epoch {epoch + 1} belongs to search stage {target + 1}, but the '
                       f'weights were already carried into stage {reached + 1}')
    for stage in range(reached + 1, target + 1):
      self._carry_into(stage)
    if target != self.stage:
      self.stage = target
      active = self.method.active_ops()
      if active is not None:   # before tracing: the supernet skips the other ops
        self.model.set_active_ops(active)
      self._build_functions()
    return {'stage': float(target)} if len(self.models) > 1 else {}

  # ---- a procedure's edge decisions ----------------------------------------

  def install_edit(self):
    """Makes every supernet apply `edit` (a procedure that decides edges calls this once)."""
    for model in self.models:
      model.mixing_edit = self.edit
    self.edit_installed = True

  def set_decisions(self, decisions):
    """The edit of `decisions` (mixing_edit's list); a changed one skips the ops it zeroes.

    The DARTS-family supernet then runs only the ops an edge can still use
    (`set_active_ops`, with the method's own pruning), and the steps are
    traced again; the NB201 supernet computes them all (weights 0).
    """
    if not self.edit.set_decisions(decisions):
      return
    if hasattr(self.model, 'set_active_ops'):
      active = self.edit.active_ops()
      own = self.method.active_ops()
      if own is not None:
        active = {k: active[k] & np.asarray(own[k], bool) for k in active}
      self.model.set_active_ops(active)
      self._build_functions()

  def _carry_into(self, stage):
    """Stage `stage - 1` -> `stage`: widened weights and momenta, the step count, the method's part."""
    old, new = self.models[stage - 1], self.models[stage]
    plan = widening.widening_plan(old.weights, new.weights, seed=(self.config.seed, stage))
    widening.assign_widened(old.weights, new.weights, plan)
    axes = {v.path: maps for v, maps in zip(old.weights, plan)}
    old_opt, new_opt = self.w_opts[stage - 1], self.w_opts[stage]
    # Keras SGD keeps one momentum per variable, in the order it was built on.
    for variable, m_old, m_new in zip(old.trainable_variables, getattr(old_opt, 'momentums', []),
                                      getattr(new_opt, 'momentums', [])):
      value = m_old.numpy()
      m_new.assign(widening.widen(value, axes[variable.path]).astype(value.dtype))
    # The step count seeds the stateless draws and continues across stages.
    new_opt.iterations.assign(old_opt.iterations)
    self.method.enter_stage(stage, self)
    self.stage_reached.assign(stage)

  # ---- variables --------------------------------------------------------

  @property
  def weight_variables(self):
    return self.model.trainable_variables

  @property
  def arch_variables(self):
    return list(self.arch.values())

  @property
  def alphas(self):
    """The single alpha variable of a one-matrix space (NB201)."""
    if len(self.arch) != 1:
      raise AttributeError(f'space {self.space.name!r} has architecture variables '
                           f'{sorted(self.arch)}; use Searcher.arch')
    return next(iter(self.arch.values()))

  def arch_numpy(self):
    return {k: v.numpy() for k, v in self.arch.items()}

  # ---- the StepContext a method works with --------------------------------

  def arch_tensors(self):
    # Tensors, not KerasVariables (tf-notes finding H), read inside the tape.
    return {k: tf.convert_to_tensor(v) for k, v in self.arch.items()}

  def arch_sources(self):
    """What to differentiate with respect to: the tf.Variables behind `arch`."""
    return [v.value for v in self.arch.values()]

  def temperature_tensor(self):
    return self.temperature.read_value()

  def weight_lr(self):
    return tf.cast(tf.convert_to_tensor(self.w_opt.learning_rate), tf.float32)

  def momentum_buffers(self):
    momenta = getattr(self.w_opt, 'momentums', None) or []
    if not momenta:
      return [tf.zeros(v.shape, v.dtype) for v in self.weight_variables]
    return [tf.convert_to_tensor(m) for m in momenta]

  def drop_path(self, seed):
    """The supernet's `drop_path` argument for a training-mode forward seeded by `seed`.

    None when config.search.drop_path_max is 0 (the supernet's graph is then the
    one without drop path), else (this epoch's rate, a seed derived from the
    step's: its own stream, so GDAS' samples of the same seed stay independent).
    """
    if not self.drop_path_max:
      return None
    return (self.drop_path_rate.read_value(),
            tf.random.experimental.stateless_fold_in(seed, DROP_PATH_STREAM))

  def all_reduce_sum(self, values):
    """Replica-context SUM of per-replica shares, i.e. global-batch means."""
    values = [tf.zeros(1) if v is None else v for v in values]
    return tf.distribute.get_replica_context().all_reduce('SUM', values)

  def loss(self, labels, logits):
    """(loss, correct): this replica's share of the global-batch mean loss, and its hits."""
    loss = tf.nn.compute_average_loss(optim.cross_entropy(labels, logits),
                                      global_batch_size=self.batch_size.read_value())
    return loss, optim.count_correct(labels, logits)

  def gradients(self, tape, loss, sources):
    """tape.gradient(loss, sources) for the alpha step (loss-scaled under mixed_float16)."""
    if self.a_loss_scale is None:
      return tape.gradient(loss, sources)
    return self.a_loss_scale.gradients(tape, loss, sources)

  def weight_gradients(self, tape, loss, sources):
    """tape.gradient(loss, sources) inside the weight step (its loss scale under mixed_float16).

    For a method's work on the weight step's batch (SDARTS-ADV's attack on the
    mixing weights), scaled as the weight gradients are.
    """
    if self.w_loss_scale is None:
      return tape.gradient(loss, sources)
    return self.w_loss_scale.gradients(tape, loss, sources)

  def arch_gradients(self, train_batch, val_batch, seed):
    """The method's `arch_gradients` (XLA-compiled under config.jit_compile)."""
    return self._arch_gradients_fn(train_batch, val_batch, seed)

  def apply_arch_gradients(self, grads):
    a = self.config.optim.arch
    return optim.apply_gradients(self.a_opt, grads, self.arch_variables, grad_clip=a.grad_clip,
                                 weight_decay=a.weight_decay, clip_before_decay=False,
                                 loss_scale=self.a_loss_scale)

  # ---- steps ------------------------------------------------------------

  def mixing(self, seed=None):
    """The method's (weights, indices) for the current variables and temperature."""
    seed = tf.constant([0, 0], tf.int32) if seed is None else seed
    return self.method.mixing(self.arch_tensors(), self.temperature_tensor(), seed)

  def _maybe_jit(self, fn):
    if not self.config.get('jit_compile', False):
      return fn
    return tf.function(fn, jit_compile=True, autograph=False)

  def _weight_gradients(self, images, labels, seed):
    """(grads, loss, correct) of the weight step's forward/backward pass."""
    weights, indices = self.method.weight_step_mixing(self, images, labels, seed)
    weights = tf.nest.map_structure(tf.stop_gradient, weights)
    with tf.GradientTape() as tape:
      loss, correct = self.loss(labels, self.model(images, weights, indices, training=True,
                                                   drop_path=self.drop_path(seed)))
    return self.weight_gradients(tape, loss, self.weight_variables), loss, correct

  def _weight_step(self, images, labels, seed):
    grads, loss, correct = self._weight_gradients_fn(images, labels, seed)
    w = self.config.optim.weights
    weight_decay = self.weight_decay.read_value() if w.weight_decay else 0.0
    optim.apply_gradients(self.w_opt, grads, self.weight_variables, grad_clip=w.grad_clip,
                          weight_decay=weight_decay, loss_scale=self.w_loss_scale)
    return loss, correct

  def _arch_eval(self, train_batch, val_batch, seed):
    """The alpha step's forward pass without an update (alpha warm-up epochs)."""
    del train_batch
    images, labels = val_batch
    weights, indices = self.mixing(seed)
    weights = tf.nest.map_structure(tf.stop_gradient, weights)
    loss, correct = self.loss(labels, self.model(images, weights, indices, training=True,
                                                 drop_path=self.drop_path(seed)))
    return loss, correct, tf.constant(0.0)

  def _replica_pair_step(self, train_batch, val_batch, update_arch, step):
    # Stateless seeds of this step (GDAS samples), distinct for the two phases:
    # a resumed run draws the same samples.
    base = tf.cast(self.config.seed, tf.int32)
    w_seed = tf.stack([base, 2 * step])
    a_seed = tf.stack([base, 2 * step + 1])

    def arch_step():
      if update_arch:
        return self.method.arch_step(self, train_batch, val_batch, a_seed)
      return self._arch_eval_fn(train_batch, val_batch, a_seed)

    if self.config.search.order == 'w_then_a':
      train = self._weight_step(*train_batch, w_seed)
      val = arch_step()
    else:
      val = arch_step()
      train = self._weight_step(*train_batch, w_seed)
    return train + val

  def _pair_step(self, train_batch, val_batch, update_arch=True):
    """One weight step and one alpha step.

    Batches are global batches (or per-replica values of a distributed
    dataset). `update_arch` is a Python bool: one trace per value.

    Returns:
      (loss, acc, val_loss, val_acc, arch_grad_norm) scalars.
    """
    step = tf.cast(self.w_opt.iterations, tf.int32)
    before = ({k: tf.identity(v) for k, v in self.arch.items()} if self.edit_installed
              else None)
    per_replica = self.strategy.run(self._replica_pair_step,
                                    args=(train_batch, val_batch, update_arch, step))
    loss, correct, val_loss, val_correct = [
        self.strategy.reduce('SUM', x, axis=None) for x in per_replica[:4]]
    norm = self.strategy.reduce('MEAN', per_replica[4], axis=None)
    if before is not None:   # decided edges keep their architecture variables
      self.edit.hold(self.arch, before)
    batch = tf.cast(self.batch_size.read_value(), tf.float32)
    return loss, correct / batch, val_loss, val_correct / batch, norm

  def distribute(self, dataset):
    """`dataset` split across the replicas (as is for a single device)."""
    if self.strategy.num_replicas_in_sync == 1:
      return dataset
    return self.strategy.experimental_distribute_dataset(dataset)

  def _eval_step(self, images, labels, weights, training=False):
    logits = self.model(images, weights, training=training)
    return (tf.reduce_sum(optim.cross_entropy(labels, logits)),
            optim.count_correct(labels, logits))

  def evaluate(self, dataset, weights, training=False):
    """(loss, accuracy) of the supernet with fixed mixing weights on a dataset.

    training=True uses the batch statistics of BatchNorm (DARTS+PT's
    measurement), which also moves the running ones (the caller restores them).
    """
    weights = {k: tf.constant(v, tf.float32) for k, v in weights.items()}
    loss = correct = count = 0.0
    for images, labels in dataset:
      l, c = self.eval_step(images, labels, weights, training)
      loss += float(l)
      correct += float(c)
      count += int(labels.shape[0])
    return loss / max(count, 1), correct / max(count, 1)

  def entropies(self):
    """E(H(beta)) (Eq. 13) of softmax(A) and of the tempered softmax(A / t)."""
    return self.method.entropies(self.arch_numpy(), float(self.temperature.numpy()))

  def genotype(self):
    """The method's read-out, through the procedure's edge decisions when there are any."""
    if not self.edit_installed:
      return self.method.genotype(self.arch_numpy())
    weights = self.edit.apply_numpy(self.method.readout_weights(self.arch_numpy()))
    return self.space.derive(weights)
