r"""Regenerates the data files shipped in edd_tf/assets/ from ../shared/data.

Writes, deterministically (same input -> byte-identical output):
  * cifar10_sample.npz: the ORIGINAL JPEG bytes (no re-encoding) of the first
    `--sample_train_per_class` training and `--sample_test_per_class` test images of every
    CIFAR-10 class, read from the ImageFolder copy in <data_dir>/cifar10.
  * nb201_results.csv.gz: the NAS-Bench-201 results of all 15,625 cells, merged
    from the three <data_dir>/nb201/NASGraph_nasbench201_*.csv files, with the
    accuracy strings copied verbatim.
  * LICENSE.NASGraph-Public: the licence of the NB201 CSVs, copied verbatim.

Usage (from the repository root):
  python -m binaries.make_assets
  python -m binaries.make_assets --shared_data=/path/to/shared/data --assets_dir=edd_tf/assets
"""

import csv
import gzip
import io
import pathlib
import shutil
import zipfile

from absl import app
from absl import flags
from absl import logging
import numpy as np

_REPO = pathlib.Path(__file__).resolve().parents[1]

_DATA_DIR = flags.DEFINE_string('shared_data', str(_REPO.parent / 'shared' / 'data'),
                                  'Folder holding cifar10/ and nb201/ (the shared data).')
_OUT_DIR = flags.DEFINE_string('assets_dir', str(_REPO / 'edd_tf' / 'assets'),
                                 'Where to write the assets.')
_TRAIN_PER_CLASS = flags.DEFINE_integer('sample_train_per_class', 500, 'Training images per class.')
_TEST_PER_CLASS = flags.DEFINE_integer('sample_test_per_class', 100, 'Test images per class.')

# CIFAR-10 label order 0..9 (= the sorted folder names).
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                   'ship', 'truck')
# (column prefix in our table, NASGraph file suffix).
NB201_DATASETS = (('cifar10', 'cifar10'), ('cifar100', 'cifar100'),
                  ('imagenet16', 'ImageNet16-120'))
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _write_npz(path, arrays):
  """Like np.savez (no pickle, no compression) but with fixed zip timestamps."""
  with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_STORED) as zf:
    for name, array in arrays.items():
      buf = io.BytesIO()
      np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
      info = zipfile.ZipInfo(name + '.npy', date_time=_FIXED_ZIP_TIME)
      info.external_attr = 0o644 << 16
      zf.writestr(info, buf.getvalue())


def _collect_split(split_dir, per_class):
  """Reads the JPEG bytes of the first `per_class` files of every class folder."""
  classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
  if tuple(classes) != CIFAR10_CLASSES:
    raise ValueError(f'{split_dir} must hold the CIFAR-10 class folders {CIFAR10_CLASSES}, '
                     f'found {classes}')
  blobs, labels, file_ids = [], [], []
  for label, name in enumerate(classes):
    files = sorted((split_dir / name).glob('*.jpg'))
    if len(files) < per_class:
      raise ValueError(f'{split_dir / name} has {len(files)} images, need {per_class}')
    for f in files[:per_class]:
      blobs.append(f.read_bytes())
      labels.append(label)
      file_ids.append(int(f.stem))
  offsets = np.zeros(len(blobs) + 1, np.int64)
  offsets[1:] = np.cumsum([len(b) for b in blobs])
  blob = np.frombuffer(b''.join(blobs), np.uint8)
  return blob, offsets, np.asarray(labels, np.int32), np.asarray(file_ids, np.int32)


def make_cifar10_sample(cifar_dir, out_path, train_per_class, test_per_class):
  """Writes the embedded CIFAR-10 sample (see edd_tf/assets/README.md)."""
  arrays = {'class_names': np.asarray(CIFAR10_CLASSES)}  # unicode array, no pickle needed.
  for split, per_class in (('train', train_per_class), ('test', test_per_class)):
    blob, offsets, labels, file_ids = _collect_split(cifar_dir / split, per_class)
    arrays[f'{split}_jpeg'] = blob
    arrays[f'{split}_offsets'] = offsets
    arrays[f'{split}_labels'] = labels
    arrays[f'{split}_file_ids'] = file_ids
    logging.info('cifar10 %s: %d images, %d JPEG bytes', split, len(labels), blob.size)
  _write_npz(out_path, arrays)


def make_nb201_table(nb201_dir, out_path):
  """Merges the three NASGraph CSVs into one gzip CSV (values copied verbatim)."""
  columns = ['index', 'arch']
  merged = None
  for prefix, suffix in NB201_DATASETS:
    with open(nb201_dir / f'NASGraph_nasbench201_{suffix}.csv', newline='') as f:
      rows = list(csv.DictReader(f))
    if merged is None:
      merged = [[r['file id'], r['arch str']] for r in rows]
    if len(rows) != len(merged):
      raise ValueError(f'{suffix}: {len(rows)} rows, expected {len(merged)}')
    for out, r in zip(merged, rows):
      if (r['file id'], r['arch str']) != (out[0], out[1]):
        raise ValueError(f'{suffix}: row {r["file id"]} does not match the cifar10 file')
      out += [r['validation accuracy'], r['test accuracy']]
    columns += [f'{prefix}_valid', f'{prefix}_test']
  text = io.StringIO()
  writer = csv.writer(text, lineterminator='\n')
  writer.writerow(columns)
  writer.writerows(merged)
  with open(out_path, 'wb') as f:
    # mtime=0 and no file name keep the output byte-identical across runs.
    with gzip.GzipFile(filename='', mode='wb', fileobj=f, mtime=0, compresslevel=9) as gz:
      gz.write(text.getvalue().encode('utf-8'))
  logging.info('nb201: %d rows -> %s', len(merged), out_path)


def main(argv):
  del argv
  data_dir = pathlib.Path(_DATA_DIR.value)
  out_dir = pathlib.Path(_OUT_DIR.value)
  out_dir.mkdir(parents=True, exist_ok=True)
  make_cifar10_sample(data_dir / 'cifar10', out_dir / 'cifar10_sample.npz',
                      _TRAIN_PER_CLASS.value, _TEST_PER_CLASS.value)
  make_nb201_table(data_dir / 'nb201', out_dir / 'nb201_results.csv.gz')
  shutil.copyfile(data_dir / 'nb201' / 'LICENSE.NASGraph-Public',
                  out_dir / 'LICENSE.NASGraph-Public')


if __name__ == '__main__':
  app.run(main)
