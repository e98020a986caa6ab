"""The console progress: the epoch's whole time and the run's time left."""

from edd_tf.core import progress


class _Clock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_epoch_time_and_time_left_leave_the_first_epoch_out_once_others_are_timed():
  clock, lines = _Clock(), []
  bar = progress.ProgressBar(4, ('loss',), 'val', clock=clock,
                             write=lambda text, flush=False: lines.append(text))
  for epoch, seconds in enumerate((100.0, 30.0, 40.0, 35.0)):
    bar(epoch, 1, 2, {'loss': 1.0})
    clock.now += seconds            # steps, evaluation and checkpoint all count
    bar(epoch, 2, 2, {'loss': 1.0, 'val': 0.5})
  ends = [l for l in lines if l.startswith('epoch ')]
  assert ends == ['epoch 1/4: 2 min; about 5 min left',   # 3 x 100 s: only the first is known
                  'epoch 2/4: 30 s; about 60 s left',      # 2 x 30 s, tracing left out
                  'epoch 3/4: 40 s; about 35 s left',      # 1 x mean(30, 40)
                  'epoch 4/4: 35 s; done']
  assert [l for l in lines if l.startswith('Epoch ')] == [f'Epoch {i}/4' for i in range(1, 5)]


def test_format_seconds():
  assert [progress.format_seconds(s) for s in (5, 89, 100, 600, 7200)] == ['5 s', '89 s', '2 min', '10 min',
                                                                                '2.0 h']
