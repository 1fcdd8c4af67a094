"""Carries the VGG-19 weights to a lent GPU machine in 26 MB instead of 80 (the call carries at most 64 MiB).

pack SRC DST:   SRC/vgg19_conv_hwio_f32.{bin,json} -> DST/upto_conv5_1_f16.bin (conv1_1 .. conv5_1 rounded to f16;
                conv5_2 .. conv5_4, which the default loss never reaches, left out) and DST/manifest_f32.json
expand SRC DST: the reverse on the machine: DST/vgg19_conv_hwio_f32.bin (f16 widened to f32, the left-out layers as
                zeros) and its manifest with the new SHA-256, a weights directory the CLI reads with --weights DST.
Needs numpy (the machine's python3 has it).
"""
import hashlib
import json
import sys

import numpy as np

SKIPPED = ('conv5_2', 'conv5_3', 'conv5_4')
BIN, MANIFEST = 'vgg19_conv_hwio_f32.bin', 'vgg19_conv_hwio_f32.json'


def kept(tensor):
    return tensor['name'].split('/')[0] not in SKIPPED


def pack(src, dst):
    manifest = json.load(open(f'{src}/{MANIFEST}'))
    data = np.fromfile(f'{src}/{BIN}', dtype='<f4')
    parts = [data[t['byteOffset'] // 4:(t['byteOffset'] + t['byteLength']) // 4].astype('<f2') for t in manifest['tensors'] if kept(t)]
    np.concatenate(parts).tofile(f'{dst}/upto_conv5_1_f16.bin')
    json.dump(manifest, open(f'{dst}/manifest_f32.json', 'w'))


def expand(src, dst):
    manifest = json.load(open(f'{src}/manifest_f32.json'))
    half = np.fromfile(f'{src}/upto_conv5_1_f16.bin', dtype='<f2')
    out = np.zeros(manifest['total_bytes'] // 4, dtype='<f4')
    at = 0
    for t in filter(kept, manifest['tensors']):
        n = t['byteLength'] // 4
        out[t['byteOffset'] // 4:t['byteOffset'] // 4 + n] = half[at:at + n]
        at += n
    assert at == half.size, 'the f16 file does not match the manifest'
    data = out.tobytes()
    manifest['sha256'] = hashlib.sha256(data).hexdigest()
    open(f'{dst}/{BIN}', 'wb').write(data)
    json.dump(manifest, open(f'{dst}/{MANIFEST}', 'w'), indent=1)
    print(f'weights expanded to {dst}: {len(data)} bytes, sha256 {manifest["sha256"][:12]}...')


if __name__ == '__main__':
    {'pack': pack, 'expand': expand}[sys.argv[1]](sys.argv[2], sys.argv[3])
