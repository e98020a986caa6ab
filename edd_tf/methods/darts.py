"""First-order DARTS with a plain or sn-softmax mixing (EDD-DARTS = this + the EDD schedule).

Everything is the base `Method`: mixing weights (sn-)softmax(alphas / t) per
edge (Eq. 3, Alg. 1), the alpha step on the validation batch with the weights
held fixed (DARTS-V1, first order).
"""

from edd_tf.methods import base


class Darts(base.Method):
  name = 'darts'
