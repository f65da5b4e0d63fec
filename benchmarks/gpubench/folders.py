"""Model folders with random weights in the real on-disk format, a tokenizer, and the texts.

A folder is written once per shape (``save_pretrained``: config.json, safetensors, tokenizer)
and reused by every phase and by a re-run on the same machine: a ``bench.json`` marker, written
after everything else, says the folder is complete and which shape it holds.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.gpubench.shapes import Shape

ROOT = Path(__file__).resolve().parents[2]
EOS = "<|endoftext|>"
# Real English prose to cut texts from: the project's own documentation.
CORPUS_GLOBS = ("README.md", "docs/*.md", "examples/docs/*.md", "examples/docs/*.txt")


def corpus_text() -> str:
    """The project's documentation as one string (the texts are cut from it)."""
    parts = [p.read_text(encoding="utf-8") for g in CORPUS_GLOBS for p in sorted(ROOT.glob(g))]
    if not parts:
        raise RuntimeError(f"no documentation found under {ROOT} to cut texts from")
    return "\n\n".join(parts)


def train_tokenizer(text: str, vocab: int = 4096) -> Any:
    """A byte-level BPE tokenizer with Qwen's special tokens, trained on ``text``.

    It adds no special tokens of its own (like Qwen2's): encoders append EOS themselves.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=[EOS, "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(text.split("\n\n"), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)


def make_texts(
    tokenizer: Any, text: str, count: int, max_tokens: int, seed: int, full: bool = False
) -> list[str]:
    """``count`` texts cut from ``text``, token lengths log-uniform in [max/16, max - 8].

    A log-uniform mix has many short texts and some long ones, as real collections do; the
    8 tokens of slack leave room for EOS and boundary effects when the text is re-tokenised.
    ``full``: every text longer than ``max_tokens`` (the encoder truncates it to exactly that).
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    rng = random.Random(seed)
    low, high = max(8, max_tokens // 16), max_tokens - 8
    out = []
    for _ in range(count):
        n = max_tokens + 16 if full else int(math.exp(rng.uniform(math.log(low), math.log(high))))
        start = rng.randrange(len(ids))
        span = (ids[start:] + ids)[:n] if start + n > len(ids) else ids[start : start + n]
        piece = tokenizer.decode(span).strip() or "text"
        out.append(piece)
    return out


def texts_for_tokens(
    tokenizer: Any, text: str, tokens: int, max_tokens: int, seed: int
) -> list[str]:
    """Enough texts (see :func:`make_texts`) to hold about ``tokens`` tokens in all."""
    low, high = max(8, max_tokens // 16), max_tokens - 8
    mean = (high - low) / math.log(high / low)  # the mean of a log-uniform length
    return make_texts(tokenizer, text, max(4, round(tokens / mean)), max_tokens, seed)


def _marker(shape: Shape, max_positions: int, dtype: str) -> dict[str, Any]:
    return {"shape": asdict(shape), "max_positions": max_positions, "dtype": dtype}


def write_folder(
    shape: Shape,
    folder: Path,
    tokenizer: Any,
    *,
    device: str,
    dtype: Any,
    max_positions: int,
) -> dict[str, float]:
    """Write a randomly initialised ``shape`` to ``folder`` with ``save_pretrained``.

    The weights are initialised on ``device`` (on a GPU: a second, not minutes of CPU), then
    saved as safetensors. A folder that already holds this shape is reused.

    Returns:
        Seconds spent: ``init_s``, ``save_s`` (both 0 when reused) and ``reused`` (1 or 0).
    """
    import torch
    from transformers import AutoModel

    want = _marker(shape, max_positions, str(dtype))
    marker = folder / "bench.json"
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return {"init_s": 0.0, "save_s": 0.0, "reused": 1.0}
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    with torch.device(device):
        model = AutoModel.from_config(shape.config(max_positions), dtype=dtype)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t1 = time.perf_counter()
    model = model.to("cpu")  # safetensors serialises host memory; one bulk copy, then write
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    marker.write_text(json.dumps(want))  # last: the folder is complete
    t2 = time.perf_counter()
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return {"init_s": t1 - t0, "save_s": t2 - t1, "reused": 0.0}


def default_workdir(need_gib: float) -> Path:
    """``/dev/shm`` (RAM: writing and reading 14 GB takes seconds) when it has room, else /tmp."""
    import tempfile

    shm = Path("/dev/shm")
    if shm.is_dir():
        try:
            if shutil.disk_usage(shm).free / 2**30 > need_gib + 2:
                return shm / "diffsearch-gpu-bench"
        except OSError:
            pass
    return Path(tempfile.gettempdir()) / "diffsearch-gpu-bench"


def sequences_lengths(encoder: Any, texts: list[str]) -> list[int]:
    """Tokens of each model input the encoder builds for ``texts`` (documents)."""
    return [len(s.ids) for s in encoder._sequences(texts, "document", None)]
