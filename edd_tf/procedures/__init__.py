"""The search-procedure registry: `build_procedure(config)` for `config.procedure.name`.

A procedure changes what a search does over time, orthogonally to the method
(how a step mixes and updates): it sees every finished epoch, may stop the
search and names the epoch whose genotype is the result. 'none' is the fixed
number of identical epochs read out at the end; 'darts_es' stops early and
'darts_ada' rolls back with a raised weight decay (R-DARTS); 'sgas' decides
edges greedily during the search (SGAS); 'darts_pt' fine-tunes after the
search and fixes edges by perturbation (DARTS+PT); 'best_val' returns the
best supernet validation epoch's genotype (GAEA's bilevel runs). To add one, write its module
(subclass `base.Procedure`), add one line here and a config in configs/.
"""

from edd_tf.procedures import adaptive_decay
from edd_tf.procedures import base
from edd_tf.procedures import best_epoch
from edd_tf.procedures import early_stop
from edd_tf.procedures import perturbation
from edd_tf.procedures import sgas

Procedure = base.Procedure
# The history field of the eigenvalue (search.hessian_every_epochs).
EIGENVALUE = early_stop.EIGENVALUE

PROCEDURES = {
    'none': base.Procedure,
    'darts_es': early_stop.DartsES,
    'darts_ada': adaptive_decay.DartsADA,
    'sgas': sgas.SGAS,
    'darts_pt': perturbation.DartsPT,
    'best_val': best_epoch.BestValidationEpoch,
}


def get_procedure_class(name):
  if name not in PROCEDURES:
    raise ValueError(f'unknown search procedure {name!r} (config.procedure.name); known: '
                     f'{sorted(PROCEDURES)}')
  return PROCEDURES[name]


def build_procedure(config):
  """The procedure of `config.procedure.name`, its config checked."""
  cls = get_procedure_class(config.procedure.name)
  cls.check_config(config)
  return cls(config)
