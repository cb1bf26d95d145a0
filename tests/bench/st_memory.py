#!/usr/bin/python3
"""Writes a large random Llama checkpoint for bench_st_memory, fast and in
little memory: the layout of tests/data/st_checkpoint.py (which it imports),
but each tensor's bytes are random 16-bit floats with the top exponent bit
cleared (all finite, |x| < 2, subnormals included), generated and written a
chunk at a time.
usage: st_memory.py OUT_DIR CONFIG DTYPE MAX_SHARD_SIZE  (DTYPE: BF16 or F16)"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data'))
import st_checkpoint as stc  # noqa: E402

CHUNK = 1 << 22


def random_finite_16(n_bytes):
    mask = b'\xff\xbf' * (n_bytes // 2)  # bit 14, the top exponent bit of BF16 and F16
    bits = int.from_bytes(os.urandom(n_bytes), 'little') & int.from_bytes(mask, 'little')
    return bits.to_bytes(n_bytes, 'little')


def write_shard(path, tensors, dtype):
    header = {'__metadata__': {'format': 'pt'}}
    offset = 0
    for name, shape, size in sorted(tensors):
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text)
        for name, shape, size in sorted(tensors):
            for at in range(0, size, CHUNK):
                f.write(random_finite_16(min(CHUNK, size - at)))


def main(out_dir, config, dtype, max_size):
    cfg = json.load(open(config))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'config.json'), 'w') as f:
        json.dump(cfg, f)
    tensors = [(name, shape, stc.numel(shape) * 2) for name, shape in stc.llama_tensors(cfg)]
    shards = stc.split(tensors, max_size, size_of=lambda t: t[2])
    index = {'metadata': {'total_parameters': sum(t[2] // 2 for t in tensors),
                          'total_size': sum(t[2] for t in tensors)}, 'weight_map': {}}
    for k, shard in enumerate(shards):
        name = f'model-{k + 1:05d}-of-{len(shards):05d}.safetensors'
        write_shard(os.path.join(out_dir, name), shard, dtype)
        index['weight_map'].update({t[0]: name for t in shard})
    with open(os.path.join(out_dir, 'model.safetensors.index.json'), 'w') as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + '\n')


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
