#!/usr/bin/python3
"""An independent safetensors writer and reader for lethe's tests (struct and
json only, no numpy, no torch): written from the format description in
docs/file-formats.md, not from lethe's C code.

  st_checkpoint.py write DIR CONFIG DTYPE MAX_SHARD_SIZE SEED [old]
      A Llama checkpoint for CONFIG (config.json copied to DIR) with random
      weights stored as DTYPE (F32, BF16, F16, or MIXED: norms F32 and
      matrices BF16, as some fine-tuning tools keep them), the way transformers'
      save_pretrained lays it out: tensors in module order, split greedily
      into shards of at most MAX_SHARD_SIZE bytes (0: one file; a tensor
      larger than the limit gets a shard of its own), shard files
      model-0000k-of-0000n.safetensors, model.safetensors.index.json with
      sorted keys and a 2-space indent; each file's header is compact JSON,
      {"format":"pt"} metadata first, tensors sorted by name, padded with
      spaces to a multiple of 8 bytes. The index's metadata has total_size and
      total_parameters, or with `old` total_size only (transformers before
      mid-2025).
  st_checkpoint.py verify DIR REFDIR
      Parses every weights file of DIR (lethe's output) with the checks of the
      reference reader, and requires each tensor to equal REFDIR's (an F32
      checkpoint) rounded to nearest-even in DIR's dtype. Exit 0 when it does.
"""
import json
import os
import random
import shutil
import struct
import sys

SIZES = {'F32': 4, 'BF16': 2, 'F16': 2, 'F64': 8}


def llama_tensors(cfg):
    """(name, shape) in the order PyTorch's state_dict lists a LlamaForCausalLM."""
    H, V, I, L = cfg['hidden_size'], cfg['vocab_size'], cfg['intermediate_size'], cfg['num_hidden_layers']
    nH = cfg['num_attention_heads']
    nKV = cfg.get('num_key_value_heads') or nH
    D = cfg.get('head_dim') or H // nH
    out = [('model.embed_tokens.weight', [V, H])]
    for l in range(L):
        p = f'model.layers.{l}.'
        out += [(p + 'self_attn.q_proj.weight', [nH * D, H]), (p + 'self_attn.k_proj.weight', [nKV * D, H]),
                (p + 'self_attn.v_proj.weight', [nKV * D, H]), (p + 'self_attn.o_proj.weight', [H, nH * D]),
                (p + 'mlp.gate_proj.weight', [I, H]), (p + 'mlp.up_proj.weight', [I, H]),
                (p + 'mlp.down_proj.weight', [H, I]), (p + 'input_layernorm.weight', [H]),
                (p + 'post_attention_layernorm.weight', [H])]
    out.append(('model.norm.weight', [H]))
    if not cfg.get('tie_word_embeddings', False):
        out.append(('lm_head.weight', [V, H]))
    return out


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def f32_bits(x):
    return struct.unpack('<I', struct.pack('<f', x))[0]


def bf16_from_f32(x):
    """Round to nearest, ties to even (inputs are finite)."""
    b = f32_bits(x)
    upper, lower = b >> 16, b & 0xffff
    if lower > 0x8000 or (lower == 0x8000 and upper & 1):
        upper += 1
    return upper


def f16_from_f32(x):
    try:
        return struct.unpack('<H', struct.pack('<e', x))[0]  # IEEE round-half-even
    except OverflowError:
        return 0xfc00 if x < 0 else 0x7c00


def encode(dtype, values):
    if dtype == 'F32':
        return struct.pack(f'<{len(values)}f', *values)
    if dtype == 'F64':
        return struct.pack(f'<{len(values)}d', *values)
    conv = bf16_from_f32 if dtype == 'BF16' else f16_from_f32
    return struct.pack(f'<{len(values)}H', *[conv(v) for v in values])


def random_values(rng, n, dtype):
    """Gaussian weights plus edge values of the dtype (subnormals, the largest
    finite, -0): all finite, so lethe accepts them."""
    vals = [struct.unpack('<f', struct.pack('<f', rng.gauss(0, 0.05)))[0] for _ in range(n)]
    edges = {'BF16': [2.0 ** -133, -(2.0 ** -126), 3.3895313892515355e38, -0.0],
             'F16': [2.0 ** -24, -(2.0 ** -20), 65504.0, -0.0]}.get(dtype, [1e-40, -0.0])
    for i, e in enumerate(edges[:n]):
        vals[rng.randrange(n)] = e
    return vals


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, bytes); header sorted by name."""
    header = {'__metadata__': {'format': 'pt'}}
    offset = 0
    for name, dtype, shape, data in sorted(tensors, key=lambda t: (-SIZES[t[1]], t[0])):
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text)
        for name, dtype, shape, data in sorted(tensors, key=lambda t: (-SIZES[t[1]], t[0])):
            f.write(data)


def split(tensors, max_size, size_of=lambda t: len(t[3])):
    """Greedy, in order: a tensor that would overflow the current shard starts
    a new one; one larger than max_size is a shard of its own, placed when met."""
    shards, current, current_size = [], [], 0
    for t in tensors:
        size = size_of(t)
        if max_size and size > max_size:
            shards.append([t])
            continue
        if max_size and current and current_size + size > max_size:
            shards.append(current)
            current, current_size = [], 0
        current.append(t)
        current_size += size
    if current:
        shards.append(current)
    return shards


def write(out_dir, config_path, dtype, max_size, seed, old=False):
    cfg = json.load(open(config_path))
    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(config_path, os.path.join(out_dir, 'config.json'))
    rng = random.Random(seed)
    tensors = []
    for name, shape in llama_tensors(cfg):
        dt = dtype if dtype != 'MIXED' else 'F32' if len(shape) == 1 else 'BF16'
        tensors.append((name, dt, shape, encode(dt, random_values(rng, numel(shape), dt))))
    shards = split(tensors, max_size)
    if len(shards) == 1:
        write_safetensors(os.path.join(out_dir, 'model.safetensors'), tensors)
        return
    index = {'metadata': {'total_parameters': sum(numel(t[2]) for t in tensors),
                          'total_size': sum(len(t[3]) for t in tensors)}, 'weight_map': {}}
    if old:
        del index['metadata']['total_parameters']
    for k, shard in enumerate(shards):
        name = f'model-{k + 1:05d}-of-{len(shards):05d}.safetensors'
        write_safetensors(os.path.join(out_dir, name), shard)
        for t in shard:
            index['weight_map'][t[0]] = name
    with open(os.path.join(out_dir, 'model.safetensors.index.json'), 'w') as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + '\n')


def read_safetensors(path):
    """{name: (dtype, shape, raw bytes)} with the reference reader's checks."""
    blob = open(path, 'rb').read()
    n = struct.unpack('<Q', blob[:8])[0]
    assert 8 + n <= len(blob), f'{path}: header past the end'
    text = blob[8:8 + n]
    assert text[:1] == b'{', f'{path}: header does not start with {{'
    header = json.loads(text.decode('utf-8'))
    meta = header.pop('__metadata__', None)
    assert meta == {'format': 'pt'}, f'{path}: metadata {meta}'
    data = blob[8 + n:]
    out, end = {}, 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]['data_offsets']):
        b, f = e['data_offsets']
        assert b == end, f'{path}: {name} begins at {b}, not {end} (gap or overlap)'
        assert f - b == numel(e['shape']) * SIZES[e['dtype']], f'{path}: {name} size'
        assert (8 + n + b) % SIZES[e['dtype']] == 0, f'{path}: {name} unaligned'
        out[name] = (e['dtype'], e['shape'], data[b:f])
        end = f
    assert end == len(data), f'{path}: {len(data) - end} trailing bytes'
    return out


def read_dir(d):
    single = os.path.join(d, 'model.safetensors')
    if os.path.exists(single):
        return read_safetensors(single)
    index = json.load(open(os.path.join(d, 'model.safetensors.index.json')))
    out = {}
    for shard in sorted(set(index['weight_map'].values())):
        part = read_safetensors(os.path.join(d, shard))
        assert not set(part) & set(out), f'{shard}: a tensor in two shards'
        out.update(part)
    assert set(out) == set(index['weight_map']), 'weight_map and shards disagree'
    assert index['metadata']['total_size'] == sum(len(t[2]) for t in out.values()), 'total_size'
    return out


def verify(out_dir, ref_dir):
    got, ref = read_dir(out_dir), read_dir(ref_dir)
    assert set(got) == set(ref), f'tensor names differ: {sorted(set(got) ^ set(ref))}'
    for name, (dtype, shape, raw) in ref.items():
        gdtype, gshape, graw = got[name]
        assert gshape == shape, f'{name}: shape {gshape} != {shape}'
        values = struct.unpack(f'<{numel(shape)}f', raw)
        assert graw == encode(gdtype, values), f'{name}: values differ from the {gdtype} rounding'
    print(f'verified {len(got)} tensors')


if __name__ == '__main__':
    if sys.argv[1] == 'write':
        write(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]),
              sys.argv[7:] == ['old'])
    elif sys.argv[1] == 'verify':
        verify(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
