"""Tiny random checkpoints in the on-disk formats of pplx-embed, Qwen3-Embedding and DiffRetriever.

Each builder writes a folder the way the real checkpoint is laid out (config.json fields,
tensor names, tokenizer files, peft adapter files) and returns the native transformers module
that holds the same weights, so tests can compare ``load_encoder`` with it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch

# A Qwen-style chat template (system/user turns, generation prompt), as Dream's tokenizer has.
QWEN_CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# LLaDA-8B-Instruct's template has Llama-3 headers and <|eot_id|> ends a turn.
LLAMA3_CHAT = (
    "<|startoftext|>{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
    "\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
LLADA_SPECIALS = [
    "<|startoftext|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|mdm_mask|>",
]


def perturb(module: torch.nn.Module, seed: int) -> None:
    """Give every parameter distinctive random values (norm weights included).

    Random init leaves RMSNorm weights at exactly 1; a loader that silently skipped them
    would go unnoticed. After this, every tensor differs from any init value.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=gen) * 0.2
            if name.endswith("norm.weight") or "LayerNorm.weight" in name:
                param.copy_(1.0 + noise)
            else:
                param.copy_(noise)


def _qwen3(vocab: int, hidden: int, **extra: Any) -> Any:
    from transformers import Qwen3Config, Qwen3Model

    config = Qwen3Config(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        max_position_embeddings=512,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        **extra,
    )
    return Qwen3Model(config)


def write_pplx(folder: Path, tokenizer: Any, *, hidden: int, prefixed: bool, seed: int) -> Any:
    """pplx-embed's format: ``bidirectional_pplx_qwen3`` config behind ``auto_map``, F32
    safetensors named like a bare Qwen3Model (``layers.0...``, no ``model.`` prefix) or, with
    ``prefixed``, under ``model.`` (as a causal-LM wrapper would save them).

    Returns:
        The equivalent bidirectional ``Qwen3Model`` (eval mode).
    """
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = _qwen3(len(tokenizer), hidden)
    perturb(model, seed)
    source = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    tensors = {f"model.{k}" if prefixed else k: v for k, v in source.items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    cfg = model.config
    raw = {
        "architectures": ["PPLXQwen3Model"],
        "auto_map": {
            "AutoConfig": "configuration.PPLXQwen3Config",
            "AutoModel": "modeling.PPLXQwen3Model",
        },
        "model_type": "bidirectional_pplx_qwen3",
        "use_bidirectional_attention": True,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": None,
        "eos_token_id": tokenizer.eos_token_id,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "hidden_size": cfg.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": cfg.intermediate_size,
        "max_position_embeddings": 512,
        "max_window_layers": 2,
        "num_attention_heads": cfg.num_attention_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_key_value_heads": cfg.num_key_value_heads,
        "rms_norm_eps": 1e-6,
        "rope_scaling": None,
        "rope_theta": 1_000_000.0,
        "sliding_window": None,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": cfg.vocab_size,
    }
    (folder / "config.json").write_text(json.dumps(raw, indent=2))
    tokenizer.save_pretrained(folder)
    model.config.is_causal = False
    return model.eval()


def qwen3_embedding_tokenizer(tokenizer: Any) -> Any:
    """Qwen3-Embedding's tokenizer behaviour: a post-processor that ends every text with
    ``<|endoftext|>`` (also the pad token), while ``eos_token`` is ``<|im_end|>``."""
    from tokenizers import processors

    tok = copy.deepcopy(tokenizer)
    end = tok.convert_tokens_to_ids("<|endoftext|>")
    tok.backend_tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single="$A <|endoftext|>",
                pair="$A <|endoftext|> $B:1 <|endoftext|>:1",
                special_tokens=[("<|endoftext|>", end)],
            ),
        ]
    )
    tok.eos_token = "<|im_end|>"
    tok.pad_token = "<|endoftext|>"
    return tok


def write_qwen3(folder: Path, tokenizer: Any, *, hidden: int, seed: int) -> Any:
    """A Qwen3 checkpoint as ``save_pretrained`` writes it (Qwen3-Embedding's format)."""
    torch.manual_seed(0)
    model = _qwen3(len(tokenizer), hidden)
    perturb(model, seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model.eval()


def with_chat_template(tokenizer: Any, template: str, extra_specials: list[str] = ()) -> Any:
    """A copy of ``tokenizer`` with a chat template (and more special tokens)."""
    tok = copy.deepcopy(tokenizer)
    if extra_specials:
        tok.add_special_tokens({"additional_special_tokens": list(extra_specials)})
    tok.chat_template = template
    return tok


def lora_adapter(
    body: torch.nn.Module, folder: Path, targets: list[str], *, seed: int, wrap: Any = None
) -> Any:
    """Train-free LoRA: random non-zero A and B on ``targets``, saved in peft's format.

    Args:
        body: The module the adapter is made for (not modified).
        folder: Where ``adapter_config.json`` and ``adapter_model.safetensors`` go.
        targets: ``target_modules``.
        wrap: Optional ``callable(body) -> module`` to train on a wrapper (names gain a level).

    Returns:
        The merged copy of ``body`` (eval mode).
    """
    from peft import LoraConfig, get_peft_model

    copy_body = copy.deepcopy(body)
    base = wrap(copy_body) if wrap is not None else copy_body
    config = LoraConfig(r=4, lora_alpha=16, lora_dropout=0.0, target_modules=targets)
    peft_model = get_peft_model(base, config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    peft_model.save_pretrained(folder)
    peft_model.merge_and_unload()
    return copy_body.eval()


class LLaDAShaped(torch.nn.Module):
    """A module tree with LLaDA's own names (``model.transformer.blocks.N.attn_out`` ...).

    Only its Linear layers matter: DiffRetriever's LLaDA adapters were trained on this tree,
    and a LoRA adapter saved from it has exactly their tensor names.
    """

    NAMES = ("q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out")

    def __init__(self, native: Any) -> None:
        super().__init__()
        cfg = native.config
        h, kv, inter = (
            cfg.hidden_size,
            cfg.num_key_value_heads * cfg.head_dim,
            cfg.intermediate_size,
        )
        shapes = {
            "q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "attn_out": (h, h),
            "ff_proj": (h, inter), "up_proj": (h, inter), "ff_out": (inter, h),
        }  # fmt: skip
        blocks = torch.nn.ModuleList()
        for _ in range(cfg.num_hidden_layers):
            block = torch.nn.Module()
            for name, (i, o) in shapes.items():
                setattr(block, name, torch.nn.Linear(i, o, bias=False))
            blocks.append(block)
        transformer = torch.nn.Module()
        transformer.blocks = blocks
        transformer.ff_out = torch.nn.Linear(h, cfg.vocab_size, bias=False)  # the LM head
        self.model = torch.nn.Module()
        self.model.transformer = transformer


NATIVE_OF_LLADA = {
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "attn_out": "self_attn.o_proj",
    "ff_proj": "mlp.gate_proj",
    "up_proj": "mlp.up_proj",
    "ff_out": "mlp.down_proj",
}


def llada_lora_adapter(native: Any, folder: Path, *, seed: int) -> Any:
    """A LoRA adapter with LLaDA's module names (LM head included), and the merged native body.

    The merged reference is computed by hand: ``W += B @ A * alpha / r`` on the matching
    ``LlamaModel`` layer; the LM head's LoRA has no counterpart.
    """
    from safetensors.torch import load_file

    shaped = LLaDAShaped(native)
    lora_adapter(shaped, folder, list(LLaDAShaped.NAMES), seed=seed)
    saved = load_file(str(folder / "adapter_model.safetensors"))
    scale = 16 / 4
    merged = copy.deepcopy(native)
    state = merged.state_dict()
    with torch.no_grad():
        for key, a in saved.items():
            if ".lora_A." not in key or ".blocks." not in key:
                continue
            b = saved[key.replace(".lora_A.", ".lora_B.")]
            _, rest = key.split(".blocks.", 1)
            layer, module = rest.split(".")[:2]
            target = f"layers.{layer}.{NATIVE_OF_LLADA[module]}.weight"
            state[target] += (b @ a) * scale
    merged.load_state_dict(state)
    merged.config.is_causal = False
    return merged.eval()
