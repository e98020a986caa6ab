"""What a search writes down per epoch: the history record and its benchmark row.

`epoch_record` is one entry of genotype.json's 'history' (core/loop.py adds
the epoch's 'seconds' and 'steps'); `benchmark_row` looks the found cell up
in the space's results table (lookup/: the shipped NB201 table or NATS-Bench).
Both are pure: they read what `search.SearchTask.end_epoch` measured.
"""


def benchmark_row(table, space, genotype):
  """The benchmark table's row of `genotype` (a dict), or None.

  None when there is no table (config.benchmark off, or a space without one)
  or the table cannot look the cell up (lookup/ raises ValueError for a
  malformed cell or one missing from a partial table).
  """
  if table is None:
    return None
  try:
    return table.lookup(space.genotype_to_json(genotype))
  except ValueError:
    return None


def epoch_record(epoch, metrics, *, temperature, next_temperature, d_exp, entropy,
                 entropy_tempered, lr, arch_updated, discrete_acc, genotype, space, table):
  """The history record of a finished search epoch.

  Args:
    epoch: the 0-based epoch (recorded 1-based).
    metrics: the epoch's step means {'loss', 'acc', 'val_loss', 'val_acc',
      'arch_grad_norm'}.
    temperature: t during the epoch.
    next_temperature: t of the next epoch (the schedule's update).
    d_exp: the schedule's d_exp after the update (EDD Eq. 14), or None.
    entropy: E(H(beta)) of softmax(A) (Eq. 13).
    entropy_tempered: E(H(beta)) of softmax(A / t).
    lr: the weight learning rate of the epoch.
    arch_updated: whether the alphas were updated (False in the
      arch_warmup_epochs, whose 'arch_grad_norm' is then None).
    discrete_acc: validation accuracy of the discretized supernet.
    genotype: the space's genotype read out after the epoch.
    space: the search space (`spaces.Space`).
    table: the benchmark table (`space.load_benchmark`), or None.

  Returns:
    A JSON-ready dict, in the field order genotype.json has always had; with
    a benchmark row, 'nb201' holds it without its 'arch'.
  """
  record = dict(
      epoch=epoch + 1, temperature=temperature, next_temperature=next_temperature,
      d_exp=d_exp, entropy=entropy, entropy_tempered=entropy_tempered, lr=lr,
      train_loss=metrics['loss'], train_acc=metrics['acc'], val_loss=metrics['val_loss'],
      val_acc=metrics['val_acc'],
      arch_grad_norm=metrics['arch_grad_norm'] if arch_updated else None,
      discrete_acc=discrete_acc, genotype=space.genotype_to_json(genotype))
  bench = benchmark_row(table, space, genotype)
  if bench is not None:
    record['nb201'] = {k: v for k, v in bench.items() if k != 'arch'}
  return record
