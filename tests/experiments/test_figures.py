"""The report's figures: every curve figure and found cell is a real image; Fig. 2A is
skipped, with a note, when no run logged the alpha gradient norm."""

from edd_tf.experiments import report
from tests.experiments import workdirs


def test_every_figure_is_a_non_empty_png(lam_sweep, tmp_path):
  out = report.write_report([lam_sweep], tmp_path, tensorboard=False, graphviz=False)
  assert sorted(out['figures']) == ['fig2a', 'fig2b', 'fig4a', 'fig4b', 'temperature']
  for path in list(out['figures'].values()) + list(out['cells'].values()):
    workdirs.check_png(path)
  assert len(out['cells']) == 6


def test_fig2a_is_skipped_with_a_note_without_gradient_norms(tmp_path, table):
  workdirs.make_run(tmp_path / 'a', table, 1, grad_norm=False)
  out = report.write_report([tmp_path], tmp_path / 'out', tensorboard=False, graphviz=False)
  assert 'fig2a' not in out['figures']
  assert not (tmp_path / 'out' / 'fig2a_arch_grad_norm.png').exists()
  assert any('Fig. 2A skipped' in n for n in out['notes'])
  assert 'Fig. 2A skipped' in out['report'].read_text()
