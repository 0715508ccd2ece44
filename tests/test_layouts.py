"""The Amaranth layouts in hw/ and the NumPy/Python packers agree bit for bit.

Every layout the RTL decodes (entries, sparse-matrix words, layer-table words, command
arguments, reply headers, STATUS) is built from the same field list as a packer on the host
side; here random values go through both (`layout.const(...).as_bits()` against
`eie.format` / `eie.bits` / `host.protocol`) and must give the same integer.
"""

import numpy as np
from hypothesis import given, settings, strategies as st

from eie import bits, contract, format as fmt
from eie.config import PRESETS
from host import protocol as proto
from hw import layouts

CONFIGS = [PRESETS[name] for name in ("eie", "ice40_1pe", "tiny", "ecp5")] + [
    PRESETS["tiny"].replace(v_bits=3, z_bits=6, entries_per_word=8),
    PRESETS["tiny"].replace(v_bits=5, z_bits=3, entries_per_word=1, n_pe=3),
]


def _random_fields(rng, fields):
    return {name: int(rng.integers(0, 1 << width)) if name != "reserved" else 0 for name, width in fields}


def _const(layout, values) -> int:
    return int(layout.const(values).as_bits())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(CONFIGS) - 1))
def test_entries_and_words(seed, which):
    print(f"seed={seed} config={which}")
    cfg = CONFIGS[which]
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 1 << cfg.v_bits, cfg.entries_per_word)
    z = rng.integers(0, 1 << cfg.z_bits, cfg.entries_per_word)
    codes = fmt.pack_entries(v, z, cfg)
    for e in range(cfg.entries_per_word):
        assert _const(layouts.entry_layout(cfg), {"v": int(v[e]), "z": int(z[e])}) == int(codes[e])
    word = layouts.word_layout(cfg).const([{"v": int(a), "z": int(b)} for a, b in zip(v, z)]).as_bits()
    assert int(word) == int(bits.entries_to_words(codes[None, :], cfg.entry_bits)[0])
    back = bits.words_to_entries(np.array([int(word)], dtype=object), cfg.entry_bits, cfg.entries_per_word)
    assert back.tolist() == [codes.tolist()]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(CONFIGS) - 1))
def test_layer_table_word(seed, which):
    print(f"seed={seed} config={which}")
    cfg = CONFIGS[which]
    rng = np.random.default_rng(seed)
    values = _random_fields(rng, fmt.layer_fields(cfg))
    packed = int(bits.pack_fields({k: [v] for k, v in values.items()}, fmt.layer_fields(cfg))[0])
    assert _const(layouts.layer_layout(cfg), values) == packed
    assert layouts.layer_layout(cfg).size == fmt.layer_word_bits(cfg) == contract.memory_table(cfg)[contract.Mem.LAYERS].width
    assert {k: int(v[0]) for k, v in bits.unpack_fields([packed], fmt.layer_fields(cfg)).items()} == values


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), op=st.sampled_from([op for op in contract.ARGS if contract.ARGS[op]]))
def test_command_arguments(seed, op):
    print(f"seed={seed} op={op.name}")
    rng = np.random.default_rng(seed)
    fields = contract.ARGS[op]
    values = _random_fields(rng, fields)
    raw = proto.pack_args(op, **values)
    assert len(raw) == contract.arg_bytes(op)
    assert _const(layouts.struct_from_fields(fields), values) == int.from_bytes(raw, "little")
    assert proto.unpack_args(op, raw) == values


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_reply_header_and_status(seed):
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    h = _random_fields(rng, contract.RSP_HEADER)
    raw = proto.response_bytes(h["status"], h["op"], bytes(h["len"]))[:proto.RSP_HEADER_BYTES]
    assert _const(layouts.struct_from_fields(contract.RSP_HEADER), h) == int.from_bytes(raw, "little")
    assert proto.parse_header(raw) == (h["status"], h["op"], h["len"])
    s = _random_fields(rng, contract.STATUS_FIELDS)
    word = _const(layouts.struct_from_fields(contract.STATUS_FIELDS), s)
    st_ = proto.decode_status(word.to_bytes(contract.reply_bytes(None, contract.Op.STATUS), "little"))
    assert (st_.ready, st_.out_sel, st_.last_layers) == (bool(s["ready"]), s["out_sel"], s["last_layers"])


def test_info_word_decodes():
    for cfg in CONFIGS:
        info = proto.decode_info(proto.info_body(cfg))
        assert (info.version, info.n_pe, info.queue_depth, info.max_layers, info.entries_per_word,
                info.config_hash) == (contract.VERSION, cfg.n_pe, cfg.queue_depth, cfg.max_layers,
                                      cfg.entries_per_word, cfg.hash)
