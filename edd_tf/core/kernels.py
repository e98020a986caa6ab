"""Which CPU kernels TensorFlow runs: oneDNN on unless the user chose.

TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` once, when it loads. Left unset, TF
2.21 turns its oneDNN kernels on only on CPUs with neural-network extensions
(AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; TF RFC 400) and leaves the
AVX2-only CPUs of many cloud machines on its Eigen kernels, where the NB201
search pair measured 2.0x slower and the DARTS pair 1.9x slower than with
oneDNN (WORKSPACE.md "Measured speed"). So `import edd_tf` (which every
binary does first) sets it to 1 when it is unset and TensorFlow is not loaded
yet; a value the user set is respected, and when TensorFlow was imported
before edd_tf its own choice stands. The one oneDNN defect we hit (the filter
gradient of a 1x1 stride-2 conv with few input channels, oneDNN #6035) is
unreachable: `nets.ops.FactorizedReduce` subsamples, then runs a stride-1
conv.

`choice()` says what was decided and by whom; `record()` adds what TF runs
(it imports TensorFlow) for config.json's neighbour runtime.json, the
benchmark JSON and the binaries' first log line.

This module does not import TensorFlow at import time.
"""

import os
import pathlib
import sys

ENV_VAR = 'TF_ENABLE_ONEDNN_OPTS'
# CPU flags (/proc/cpuinfo) with which TF enables oneDNN by itself (RFC 400).
TF_DEFAULT_ON_FLAGS = ('avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile', 'amx_int8',
                       'amx_bf16')


def choose_onednn(environ, loaded_modules):
  """Sets environ[ENV_VAR] = '1' if it is unset and TF is not loaded; returns the choice.

  Args:
    environ: the environment to read and set (os.environ).
    loaded_modules: the names of the modules already imported (sys.modules).

  Returns:
    {'TF_ENABLE_ONEDNN_OPTS': the value in effect or None, 'set_by': 'user' |
    'edd_tf' | 'tensorflow'} ('tensorflow': TF loaded before edd_tf with the
    variable unset, so TF's own default applies).
  """
  if ENV_VAR in environ:
    set_by = 'user'
  elif 'tensorflow' in loaded_modules:
    set_by = 'tensorflow'
  else:
    environ[ENV_VAR] = '1'
    set_by = 'edd_tf'
  return {ENV_VAR: environ.get(ENV_VAR), 'set_by': set_by}


def cpu_flags(cpuinfo='/proc/cpuinfo'):
  """The first CPU's feature flags, or () where /proc/cpuinfo has none (not Linux x86)."""
  try:
    for line in pathlib.Path(cpuinfo).read_text().splitlines():
      if line.startswith('flags'):
        return tuple(line.split(':', 1)[1].split())
  except OSError:
    pass
  return ()


def tensorflow_default(flags):
  """Whether TF would run oneDNN with ENV_VAR unset, from the CPU flags (RFC 400 rule)."""
  return any(flag in flags for flag in TF_DEFAULT_ON_FLAGS)


def onednn_enabled():
  """Whether the loaded TensorFlow runs its oneDNN kernels (imports TensorFlow)."""
  try:
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
    return bool(_pywrap_util_port.IsMklEnabled())
  except (ImportError, AttributeError):
    return False


def choice():
  """What `import edd_tf` decided for this process (see choose_onednn)."""
  value = os.environ.get(ENV_VAR)
  set_by = os.environ.get('EDD_TF_ONEDNN_SET_BY', 'user' if value is not None else 'tensorflow')
  return {ENV_VAR: value, 'set_by': set_by}


def record():
  """The choice plus what TF runs and would run by itself: a JSON-able dict."""
  flags = cpu_flags()
  return dict(choice(), onednn_enabled=onednn_enabled(),
              tensorflow_default=tensorflow_default(flags) if flags else None)


def describe(rec):
  """One log line for a record(): 'oneDNN CPU kernels on (TF_ENABLE_ONEDNN_OPTS=1 set by ...)'."""
  state = 'on' if rec['onednn_enabled'] else 'off'
  why = {'user': 'set by the user', 'edd_tf': 'set by edd_tf',
         'tensorflow': "TensorFlow's default (TensorFlow was imported before edd_tf)"}
  value = rec[ENV_VAR]
  text = f'oneDNN CPU kernels {state} ({ENV_VAR}={value}, {why[rec["set_by"]]}'
  if rec['set_by'] == 'edd_tf' and rec['tensorflow_default'] is False:
    text += '; TensorFlow would leave them off on this CPU'
  return text + ')'


def apply_default():
  """Runs choose_onednn on this process once; remembered in the environment.

  The decision is kept in EDD_TF_ONEDNN_SET_BY so that `choice()` tells a
  value edd_tf set from one the user set, also in child processes (the
  sweep's searches) that inherit both variables.
  """
  if 'EDD_TF_ONEDNN_SET_BY' in os.environ:
    return
  decided = choose_onednn(os.environ, sys.modules)
  os.environ['EDD_TF_ONEDNN_SET_BY'] = decided['set_by']
