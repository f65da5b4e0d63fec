"""Which encoders late chunking can take, torch-free (the ingest checks before loading any model).

Late chunking averages each chunk's own token states from one pass over its document, which
only mean pooling has: the last token's (or [CLS], or a [MASK] slot's) state is one state for
the whole input, with no part per chunk.
"""

from __future__ import annotations

from encoders.errors import EncoderError

_WHY = {
    "last": "the last token's state stands for the whole input",
    "cls": "the first token's state stands for the whole input",
    "mask": "the [MASK] slot's state stands for the whole input",
}


def refuse_unless_mean(name: str, pooling: str) -> None:
    """Late chunking needs a vector per chunk out of one pass, which only mean pooling gives.

    Raises:
        EncoderError: For ``last``, ``cls`` and ``mask`` pooling, saying why.
    """
    if pooling != "mean":
        raise EncoderError(
            f"late chunking cannot be used with encoder {name!r}: it averages each chunk's own "
            f"token states from one pass over the document, but {name!r} pools {pooling!r} "
            f"({_WHY.get(pooling, 'one state for the whole input')}), so a chunk has no "
            "state of its own. Use --chunking tokens for this encoder."
        )
