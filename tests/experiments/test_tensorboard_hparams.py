"""The report's TensorBoard HParams logdir: the hparams config and one run per search."""

from edd_tf.experiments import report


def test_hparams_logdir_has_the_config_and_one_run_per_search(lam_sweep, tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = report.write_report([lam_sweep], tmp_path, graphviz=False)
  runs = sorted(p.name for p in (tmp_path / 'tb').iterdir() if p.is_dir())
  assert runs == sorted(p.name for p in lam_sweep.iterdir() if p.is_dir())

  def plugins(directory):
    names, tags = set(), set()
    for f in directory.glob('events.out.tfevents.*'):
      for event in tf.compat.v1.train.summary_iterator(str(f)):
        for v in event.summary.value:
          names.add(v.metadata.plugin_data.plugin_name)
          tags.add(v.tag)
    return names, tags

  assert 'hparams' in plugins(tmp_path / 'tb')[0]
  names, tags = plugins(tmp_path / 'tb' / runs[0])
  assert 'hparams' in names and 'final/cifar10_test' in tags and 'epoch/temperature' in tags
  assert out['report'].exists()
