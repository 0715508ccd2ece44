"""Fixed-point safety: values the number formats cannot hold are refused, naming layer and value."""

import numpy as np
import pytest

from eie import format as fmt
from eie import numerics
from eie.config import PRESETS

TINY = PRESETS["tiny"]   # 16-bit weights, Q8.8 activations, 32-bit accumulator: shifts 0..16


def layer(codebook, bias=(0.0, 0.0), name="fc7"):
    idx = np.array([[1, 2, 3, 0], [4, 5, 6, 7]])
    cb = np.zeros(16)
    cb[:len(codebook)] = codebook
    return fmt.QuantizedLayer(name, idx, cb, np.asarray(bias, float), True)


def test_ordinary_codebook_encodes():
    e = fmt.encode_layer(layer([0, 0.5, -0.25, 0.01, 0.3, -0.7, 0.2, 0.9]), TINY)
    assert e.shift == 15 and int(e.codebook[3]) == round(0.01 * 2 ** 15)


def test_small_centroid_that_rounds_to_zero_is_an_error():
    # The largest value (1.9) allows 14 fractional bits; 2e-5 * 2**14 = 0.33 rounds to 0.
    q = layer([0, 1.9, 2e-5, 0.1, 0.2, 0.3, 0.4, 0.5])
    with pytest.raises(numerics.FixedPointError) as e:
        fmt.encode_layer(q, TINY)
    msg = str(e.value)
    assert "layer fc7" in msg and "2e-05" in msg and "entry 2" in msg and "round to 0" in msg
    assert "14 fractional bits" in msg and "1.9" in msg
    # Explicitly allowed: the old behaviour (the value becomes 0), and the problem is listed.
    e = fmt.encode_layer(q, TINY, allow_loss=True)
    assert int(e.codebook[2]) == 0
    assert len(numerics.layer_value_problems(q.codebook, e.shift, q.bias, TINY)) == 1


def test_tiny_codebook_past_the_largest_shift_is_an_error():
    q = layer([0, 1e-6, 2e-6, 3e-6, 1e-6, 1e-6, 1e-6, 1e-6])
    with pytest.raises(numerics.FixedPointError, match=r"acc_bits - act_bits = 16"):
        fmt.encode_network([q], TINY)


def test_unused_entries_do_not_count():
    # Entry 9 is not referenced by any index: its value cannot be lost.
    cb = [0, 1.9, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0, 2e-6]
    fmt.encode_layer(layer(cb), TINY)


def test_saturating_codebook_value_is_an_error():
    q = layer([0, 40000.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    with pytest.raises(numerics.FixedPointError, match=r"layer fc7: codebook value 40000 \(entry 1\) saturates"):
        fmt.encode_layer(q, TINY)


def test_saturating_bias_is_refused_by_the_layer_check():
    # The encoder saturates biases by definition (docs/format.md); the compressor's check refuses them.
    q = layer([0, 0.5, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5], bias=[3.0, -300.0])
    e = fmt.encode_layer(q, TINY)
    assert int(e.bias[1]) == TINY.act_min
    with pytest.raises(numerics.FixedPointError) as err:
        numerics.check_layer_values(q.name, q.codebook, e.shift, q.bias, TINY)
    assert "layer fc7" in str(err.value) and "-300" in str(err.value) and "row 1" in str(err.value)
    assert "Q8.8" in str(err.value)
    # The largest values that still round into range are fine.
    numerics.check_layer_values("ok", q.codebook, e.shift, [127.998, -128.0], TINY)


def test_act_limits_and_names():
    assert numerics.act_limits(TINY) == (-128.0, 32767 / 256)
    assert numerics.q_name(16, 8) == "Q8.8"
