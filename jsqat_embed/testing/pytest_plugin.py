"""pytest plugin (entry point ``pytest11``): the ``bit_exact`` fixture.

    def test_model(bit_exact):
        bit_exact("model.tflite", samples=8)
"""

from __future__ import annotations

import pytest


@pytest.fixture
def bit_exact():
    """:func:`jsqat_embed.testing.assert_bit_exact`, as a fixture."""
    from jsqat_embed.testing import assert_bit_exact

    return assert_bit_exact
