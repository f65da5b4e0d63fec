"""Dream- and LLaDA-format checkpoints load into native classes with every weight in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from encoders import EncoderError, load_encoder
from encoders.batching import collate
from encoders.model import TransformerEncoder

# peft (building the test adapters) calls an API transformers 5 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

TEXTS = [
    "Diffusion language models denoise masked tokens.",
    "The quick brown fox jumps over the lazy dog near the river bank, twice.",
    "Cats",
]


def assert_all_weights_loaded(enc: TransformerEncoder, source: dict[str, torch.Tensor]) -> None:
    """Every tensor of the backbone equals the one written to disk, and nothing is extra."""
    loaded = enc.backbone.state_dict()
    assert set(loaded) == set(source)
    for name, tensor in source.items():
        assert torch.equal(loaded[name], tensor), f"{name} was not loaded from the checkpoint"


def reference_embeddings(enc: TransformerEncoder, reference: Any, texts: list[str]) -> torch.Tensor:
    """Run the native reference model on the encoder's own sequences, one text at a time.

    No padding and the default 2-D all-ones mask: the reference sees exactly the sequence.

    Returns:
        (n, H) mean of the text tokens' last states, L2-normalised.
    """
    rows = []
    for i, text in enumerate(texts):
        ids = enc.tokenizer(text, add_special_tokens=False)["input_ids"]
        (seq,) = enc.builder.build(i, ids, "document", None)
        input_ids, attn, pool, _ = collate([seq], enc.pad_id, "right")
        with torch.no_grad():
            hidden = reference(input_ids=input_ids, attention_mask=attn).last_hidden_state
        mask = pool[0].bool()
        rows.append(torch.nn.functional.normalize(hidden[0, mask].mean(dim=0), dim=0))
    return torch.stack(rows)


def first_token_state_changes(enc: TransformerEncoder, reference: Any, ids: list[int]) -> bool:
    """Whether the reference's first-token state depends on the last token."""
    other = [*ids[:-1], (ids[-1] + 7) % reference.config.vocab_size]
    with torch.no_grad():
        a = reference(input_ids=torch.tensor([ids])).last_hidden_state[0, 0]
        b = reference(input_ids=torch.tensor([other])).last_hidden_state[0, 0]
    return not torch.allclose(a, b, atol=1e-6)


def test_dream_format_loads_into_qwen2(tiny_dream: Any) -> None:
    enc = load_encoder("dream", weights=tiny_dream.path)
    assert type(enc.backbone).__name__ == "Qwen2Model"
    assert enc.attention == "bidirectional" and enc.pooling == "mean" and enc.family == "diffusion"
    assert enc.dim == 32
    assert_all_weights_loaded(enc, tiny_dream.source)
    # Fields that shape the network but not the tensors must come from config.json too.
    cfg = enc.backbone.config
    assert cfg.rope_parameters["rope_theta"] == 1_000_000.0
    assert cfg.rms_norm_eps == 1e-6
    assert cfg.num_key_value_heads == 2
    assert cfg.is_causal is False
    # The reference really is bidirectional, so agreement below means a bidirectional mask.
    ids = enc.tokenizer("the quick brown fox", add_special_tokens=False)["input_ids"]
    assert first_token_state_changes(enc, tiny_dream.reference, ids)
    got = torch.from_numpy(enc.encode_documents(TEXTS))
    want = reference_embeddings(enc, tiny_dream.reference, TEXTS)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_dream_wraps_text_in_chat_template(tiny_dream: Any) -> None:
    enc = load_encoder("dream", weights=tiny_dream.path)
    ids = enc.tokenizer("Cats", add_special_tokens=False)["input_ids"]
    (seq,) = enc.builder.build(0, ids, "document", None)
    text = enc.tokenizer.decode(seq.ids)
    assert text == "<|im_start|>user\nCats<|im_end|>"
    pooled = [t for t, p in zip(seq.ids, seq.pool, strict=True) if p]
    assert pooled == ids  # only the text is pooled, never the template
    # The tokenizer class is custom (DreamTokenizer); the fallback must keep its specials.
    assert enc.tokenizer.eos_token == "<|endoftext|>"
    assert enc.pad_id == enc.tokenizer.convert_tokens_to_ids("<|endoftext|>")


def test_llada_format_loads_into_llama(tiny_llada: Any) -> None:
    enc = load_encoder("llada", weights=tiny_llada.path)
    assert type(enc.backbone).__name__ == "LlamaModel"
    assert enc.attention == "bidirectional" and enc.pooling == "mean"
    assert_all_weights_loaded(enc, tiny_llada.source)
    cfg = enc.backbone.config
    assert cfg.rope_parameters["rope_theta"] == 500_000.0
    assert cfg.intermediate_size == 48
    assert cfg.is_causal is False
    ids = enc.tokenizer("the quick brown fox", add_special_tokens=False)["input_ids"]
    assert first_token_state_changes(enc, tiny_llada.reference, ids)
    got = torch.from_numpy(enc.encode_documents(TEXTS))
    want = reference_embeddings(enc, tiny_llada.reference, TEXTS)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_llada_lm_head_is_not_mistaken_for_a_block(tiny_llada: Any) -> None:
    # The LM head (model.transformer.ff_out) and each block's ff_out share a suffix.
    enc = load_encoder("llada", weights=tiny_llada.path)
    assert not any("lm_head" in k or "unused" in k for k in enc.backbone.state_dict())
    down = enc.backbone.state_dict()["layers.1.mlp.down_proj.weight"]
    assert down.shape == (32, 48)


def test_folder_path_detects_dream(tiny_dream: Any) -> None:
    enc = load_encoder(str(tiny_dream.path))
    assert enc.family == "diffusion" and enc.attention == "bidirectional"
    assert_all_weights_loaded(enc, tiny_dream.source)


def test_preset_rejects_a_folder_of_another_architecture(tiny_llada: Any, tiny_qwen2: Any) -> None:
    with pytest.raises(EncoderError, match="llada"):
        load_encoder("dream", weights=tiny_llada.path)
    with pytest.raises(EncoderError, match="qwen2"):
        load_encoder("llada", weights=tiny_qwen2.path)


def test_checkpoint_tensors_without_a_place_are_refused(tiny_dream: Any, tmp_path: Path) -> None:
    """A Dream-like checkpoint with extra tensors (say, q/k norms) must not load half-mapped."""
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "dream-variant"
    shutil.copytree(tiny_dream.path, folder)
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["model.layers.0.self_attn.q_norm.weight"] = torch.ones(8)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(EncoderError, match=r"q_norm.*not supported"):
        load_encoder("dream", weights=folder)


def test_checkpoint_missing_a_tensor_is_refused(tiny_llada: Any, tmp_path: Path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "llada-incomplete"
    shutil.copytree(tiny_llada.path, folder)
    tensors = load_file(str(folder / "model.safetensors"))
    del tensors["model.transformer.blocks.1.ff_norm.weight"]
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(EncoderError, match=r"post_attention_layernorm.*random"):
        load_encoder("llada", weights=folder)


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _make_lora_adapter(tiny_dream: Any, folder: Path, *, wrapped: bool = False) -> Any:
    """A peft LoRA adapter (r=4, non-zero B) on the Dream-equivalent network.

    Args:
        wrapped: Train it on a ``Qwen2ForCausalLM`` (the body under ``.model``, as in Dream's
            own ``DreamModel``), so that its tensor names carry a ``model.`` level.

    Returns:
        The merged reference body (a bidirectional ``Qwen2Model``).
    """
    import copy

    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2ForCausalLM

    body = copy.deepcopy(tiny_dream.reference)
    base: Any = body
    if wrapped:
        base = Qwen2ForCausalLM(body.config)
        base.model = body
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=LORA_TARGETS)
    peft_model = get_peft_model(base, config)
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    peft_model.save_pretrained(folder)
    merged = peft_model.merge_and_unload()
    merged = merged.model if wrapped else merged
    merged.config.is_causal = False
    return merged.eval()


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare-body", "causal-lm-wrapper"])
def test_diffembed_applies_a_real_lora_adapter(
    tiny_dream: Any, tmp_path: Path, wrapped: bool
) -> None:
    adapter = tmp_path / "adapter"
    merged = _make_lora_adapter(tiny_dream, adapter, wrapped=wrapped)
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 4
    enc = load_encoder("diffembed", weights=tiny_dream.path, adapter=adapter)
    # Merged: the backbone is a plain Qwen2Model with the LoRA deltas folded in.
    assert type(enc.backbone).__name__ == "Qwen2Model"
    assert not any("lora" in k for k in enc.backbone.state_dict())
    merged_state = merged.state_dict()
    for name, tensor in enc.backbone.state_dict().items():
        torch.testing.assert_close(tensor, merged_state[name], atol=1e-6, rtol=0)
    got = torch.from_numpy(enc.encode_documents(TEXTS))
    want = reference_embeddings(enc, merged, TEXTS)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    plain = torch.from_numpy(load_encoder("dream", weights=tiny_dream.path).encode_documents(TEXTS))
    assert (got - plain).abs().max() > 1e-2


def test_adapter_with_foreign_names_is_refused(tiny_dream: Any, tmp_path: Path) -> None:
    """An adapter whose tensors would not land anywhere must not load as a silent no-op."""
    from safetensors.torch import load_file, save_file

    adapter = tmp_path / "adapter"
    _make_lora_adapter(tiny_dream, adapter)
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    renamed = {k.replace(".layers.", ".transformer.blocks."): v for k, v in weights.items()}
    save_file(renamed, str(adapter / "adapter_model.safetensors"))
    with pytest.raises(EncoderError, match="do not fit"):
        load_encoder("diffembed", weights=tiny_dream.path, adapter=adapter)


def test_adapter_for_other_modules_is_refused(tiny_dream: Any, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    config = {
        "peft_type": "LORA",
        "r": 4,
        "lora_alpha": 8,
        "target_modules": ["query", "value"],  # BERT's names: absent from Qwen2
        "task_type": None,
    }
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    from safetensors.torch import save_file

    save_file(
        {"base_model.model.encoder.layer.0.attention.self.query.lora_A.weight": torch.ones(4, 32)},
        str(adapter / "adapter_model.safetensors"),
    )
    with pytest.raises(EncoderError, match="does not fit"):
        load_encoder("diffembed", weights=tiny_dream.path, adapter=adapter)


def test_diffembed_without_adapter_says_what_to_do(tiny_dream: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("DIFFSEARCH_ADAPTER_DIFFEMBED", raising=False)
    with pytest.raises(EncoderError, match=r"--adapter.*DIFFSEARCH_ADAPTER_DIFFEMBED"):
        load_encoder("diffembed", weights=tiny_dream.path)


def test_adapter_folder_must_be_an_adapter(tiny_dream: Any, tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match=r"adapter_config\.json"):
        load_encoder("diffembed", weights=tiny_dream.path, adapter=tmp_path)
