"""edd_tf.core.kernels: oneDNN on when the user left it unset; a user's choice respected."""

import json
import os
import subprocess
import sys

from edd_tf.core import kernels
from tests.helpers import ROOT


def test_unset_and_tensorflow_not_loaded_turns_onednn_on():
  env = {}
  assert kernels.choose_onednn(env, {'numpy'}) == {
      'TF_ENABLE_ONEDNN_OPTS': '1', 'set_by': 'edd_tf'}
  assert env == {'TF_ENABLE_ONEDNN_OPTS': '1'}


def test_a_value_the_user_set_is_kept():
  for value in ('0', '1'):
    env = {'TF_ENABLE_ONEDNN_OPTS': value}
    assert kernels.choose_onednn(env, set()) == {
        'TF_ENABLE_ONEDNN_OPTS': value, 'set_by': 'user'}
    assert env == {'TF_ENABLE_ONEDNN_OPTS': value}


def test_tensorflow_loaded_first_keeps_its_own_default():
  env = {}
  assert kernels.choose_onednn(env, {'tensorflow'}) == {
      'TF_ENABLE_ONEDNN_OPTS': None, 'set_by': 'tensorflow'}
  assert not env


def test_tensorflow_default_follows_the_cpu_flags(tmp_path):
  avx2 = tmp_path / 'cpuinfo'
  avx2.write_text('processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n')
  assert kernels.cpu_flags(avx2) == ('fpu', 'sse2', 'avx', 'avx2', 'fma')
  assert not kernels.tensorflow_default(kernels.cpu_flags(avx2))
  assert kernels.tensorflow_default(('avx2', 'avx512f', 'avx512_vnni'))
  assert kernels.cpu_flags(tmp_path / 'missing') == ()


def test_describe_says_who_set_it():
  rec = {'TF_ENABLE_ONEDNN_OPTS': '1', 'set_by': 'edd_tf', 'onednn_enabled': True,
         'tensorflow_default': False}
  assert kernels.describe(rec) == ('oneDNN CPU kernels on (TF_ENABLE_ONEDNN_OPTS=1, set by '
                                   'edd_tf; TensorFlow would leave them off on this CPU)')
  rec.update(TF_ENABLE_ONEDNN_OPTS='0', set_by='user', onednn_enabled=False)
  assert kernels.describe(rec) == 'oneDNN CPU kernels off (TF_ENABLE_ONEDNN_OPTS=0, set by the user)'


_PROBE = ('import json, edd_tf; from edd_tf.core import kernels; '
          'print(json.dumps(kernels.record()))')


def _probe(**env_changes):
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_ENABLE_ONEDNN_OPTS', 'EDD_TF_ONEDNN_SET_BY')}
  env.update(env_changes, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL='3')
  out = subprocess.run([sys.executable, '-c', _PROBE], env=env, capture_output=True, text=True,
                       timeout=120, check=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def test_import_edd_tf_turns_onednn_on_in_a_fresh_process():
  rec = _probe()
  assert rec['TF_ENABLE_ONEDNN_OPTS'] == '1' and rec['set_by'] == 'edd_tf'
  assert rec['onednn_enabled'] is True


def test_import_edd_tf_respects_the_user_turning_onednn_off():
  rec = _probe(TF_ENABLE_ONEDNN_OPTS='0')
  assert rec['TF_ENABLE_ONEDNN_OPTS'] == '0' and rec['set_by'] == 'user'
  assert rec['onednn_enabled'] is False
