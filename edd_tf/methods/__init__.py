"""The search-method registry: `get_method(config.method)`.

Each method is one module implementing `base.Method`. To add a method, write
its module (override only what differs from first-order DARTS), add one line
to METHODS and a config in configs/.
"""

from edd_tf.methods import base
from edd_tf.methods import beta_darts
from edd_tf.methods import darts
from edd_tf.methods import darts_minus
from edd_tf.methods import drnas
from edd_tf.methods import gaea
from edd_tf.methods import gaea_pc
from edd_tf.methods import fair_darts
from edd_tf.methods import gdas
from edd_tf.methods import pc_darts
from edd_tf.methods import sdarts
from edd_tf.methods import sdarts_adv
from edd_tf.methods import second_order

Method = base.Method

METHODS = {
    'darts': darts.Darts,
    'darts_2nd': second_order.SecondOrder,
    'darts_minus': darts_minus.DartsMinus,
    'beta_darts': beta_darts.BetaDarts,
    'drnas': drnas.DrNAS,
    'gaea': gaea.Gaea,
    'gaea_pc': gaea_pc.GaeaPC,
    'fair_darts': fair_darts.FairDarts,
    'sdarts_rs': sdarts.SDartsRS,
    'sdarts_adv': sdarts_adv.SDartsADV,
    'pc_darts': pc_darts.PCDarts,
    'gdas': gdas.Gdas,
}


def get_method_class(name):
  if name not in METHODS:
    raise ValueError(f'unknown search method {name!r} (config.method); known methods: '
                     f'{sorted(METHODS)}')
  return METHODS[name]


def build_method(config, space):
  """The method of `config.method` for `space`, its config checked."""
  cls = get_method_class(config.method)
  cls.check_config(config)
  return cls(config, space)


def describe(config):
  """What a search is, in words: 'darts, sn-softmax (st=1), edd temperature schedule (lam=0.06)'.

  genotype.json's `recipe`: config.method alone says 'darts' for an EDD-DARTS search.
  """
  sm, sched = config.softmax, config.schedule
  if sm.kind == 'sn':
    softmax = f"sn-softmax ({'st=%g' % sm.st if sm.st else 's=%g' % sm.s})"
  else:
    softmax = f'{sm.kind} softmax'
  schedule = f'{sched.name} temperature schedule'
  if sched.name == 'edd':
    schedule += f' (lam={sched.lam:g})'
  elif sched.name == 'constant':
    schedule = f't={sched.t0:g}'
  procedure = config.get('procedure', {}).get('name', 'none')
  return ', '.join([config.method, softmax, schedule] +
                   ([f'procedure {procedure}'] if procedure != 'none' else []))
