"""Cell drawings: DARTS cells are drawn, graphviz sources label every edge, graphviz draws."""

import pytest

from edd_tf.arch import genotype
from edd_tf.experiments import cell_drawing
from tests.experiments import workdirs


def test_darts_cells_are_drawn(tmp_path):
  g = genotype.genotype_to_dict(genotype.GENOTYPES['DARTS_V2'])
  path = cell_drawing.draw_cell('darts', g, tmp_path / 'darts.png', 'DARTS_V2', graphviz=False)
  workdirs.check_png(path)


def test_graphviz_sources_label_every_edge():
  arch = '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|'
  source = cell_drawing.nb201_dot(arch)
  assert source.count('->') == 6 and '0 -> 1 [label="nor_conv_3x3"' in source
  assert source.count('style=dotted') == 2
  source = cell_drawing.darts_dot(genotype.GENOTYPES['DARTS_V2'])
  assert source.count('[label="sep_conv_3x3"') == 5 and source.count('->') == 2 * (8 + 4)


@pytest.mark.skipif(not cell_drawing.has_graphviz(), reason='graphviz dot is not installed')
def test_graphviz_drawings(tmp_path):
  workdirs.check_png(cell_drawing.draw_nb201(
      '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|',
      tmp_path / 'a.png', graphviz=True))


def test_sparse_fair_darts_cells_are_drawn(tmp_path):
  cell = [('sep_conv_3x3', 2, 0), ('skip_connect', 2, 1), ('dil_conv_3x3', 3, 1),
          ('avg_pool_3x3', 5, 3)]
  g = genotype.Genotype(normal=cell, normal_concat=[2, 3, 5], reduce=cell, reduce_concat=[2, 3, 5])
  source = cell_drawing.darts_dot(g)
  assert source.count('->') == 2 * (4 + 3) and 'normal_km1 -> normal_0 [label="skip_connect"' in source
  path = cell_drawing.draw_cell('darts', genotype.genotype_to_dict(g), tmp_path / 'fair.png',
                                graphviz=False)
  workdirs.check_png(path)
