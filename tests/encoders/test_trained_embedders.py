"""pplx-embed, Qwen3-Embedding and DiffRetriever checkpoints: loaded natively, equal to references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from encoders import EncoderError, list_encoders, load_encoder
from encoders.model import TransformerEncoder
from tests.encoders.test_diffusion_formats import assert_all_weights_loaded
from tests.encoders.test_padding import _assert_batch_equals_singles

# peft (building the test adapters) calls an API transformers 5 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

TEXTS = [
    "Diffusion language models denoise masked tokens.",
    "The quick brown fox jumps over the lazy dog near the river bank, twice.",
    "Cats",
]
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _states(reference: Any, ids: list[int]) -> torch.Tensor:
    """The reference's last-layer states (L, H) for one unpadded sequence."""
    with torch.no_grad():
        return reference(input_ids=torch.tensor([ids])).last_hidden_state[0]


def _sequence(enc: TransformerEncoder, text: str, kind: str = "document") -> Any:
    ids = enc.tokenizer(text, add_special_tokens=False)["input_ids"]
    instruction = enc.default_instruction if kind == "query" else None
    (seq,) = enc.builder.build(0, ids, kind, instruction)  # type: ignore[arg-type]
    return seq


# -- pplx-embed ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["tiny_pplx", "tiny_pplx_prefixed"])
def test_pplx_format_loads_into_native_qwen3(fixture: str, request: pytest.FixtureRequest) -> None:
    ckpt = request.getfixturevalue(fixture)
    enc = load_encoder("pplx-embed-0.6b", weights=ckpt.path)
    assert type(enc.backbone).__name__ == "Qwen3Model"
    assert (enc.family, enc.attention, enc.pooling) == ("diffusion", "bidirectional", "mean")
    assert enc.backbone.config.is_causal is False
    assert_all_weights_loaded(enc, ckpt.source)
    # Qwen3's q/k norms are part of the mapping: a loader that skipped them would differ here.
    assert any("q_norm" in k for k in enc.backbone.state_dict())
    got = torch.from_numpy(enc.encode_documents(TEXTS))
    want = []
    for text in TEXTS:
        seq = _sequence(enc, text)
        assert sum(seq.pool) == len(seq.ids)  # no instruction, every token averaged
        want.append(torch.nn.functional.normalize(_states(ckpt.reference, seq.ids).mean(0), dim=0))
    torch.testing.assert_close(got, torch.stack(want), atol=1e-5, rtol=0)
    # The reference is bidirectional: the first token's state depends on the last token.
    ids = _sequence(enc, TEXTS[1]).ids
    changed = [*ids[:-1], (ids[-1] + 5) % enc.vocab_rows]
    assert not torch.allclose(
        _states(ckpt.reference, ids)[0], _states(ckpt.reference, changed)[0], atol=1e-5
    )


def test_pplx_folder_is_recognised_without_remote_code(tiny_pplx: Any) -> None:
    enc = load_encoder(str(tiny_pplx.path))
    assert (enc.family, enc.attention, enc.pooling) == ("diffusion", "bidirectional", "mean")
    assert enc.dim == 256
    # pplx folders take its quantizer and Matryoshka prefixes like the presets.
    assert load_encoder(str(tiny_pplx.path), dim=128, quantize="binary").dim == 128


def test_pplx_presets_and_padding(tiny_pplx: Any) -> None:
    _assert_batch_equals_singles(load_encoder("pplx-embed-0.6b", weights=tiny_pplx.path))
    _assert_batch_equals_singles(load_encoder("pplx-embed-4b", weights=tiny_pplx.path))
    ctx = load_encoder("pplx-embed-context-0.6b", weights=tiny_pplx.path)
    assert ctx.default_chunking == "late"
    assert ctx.late_separator == ctx.tokenizer.convert_tokens_to_ids("<|endoftext|>")


# -- Qwen3-Embedding ---------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["qwen3-embedding", "qwen3-embedding-4b", "qwen3-embedding-8b"])
def test_qwen3_embedding_pools_its_single_end_token(preset: str, tiny_qwen3_embedding: Any) -> None:
    enc = load_encoder(preset, weights=tiny_qwen3_embedding.path)
    assert (enc.attention, enc.pooling, enc.padding_side) == ("causal", "last", "left")
    end = enc.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    seq = _sequence(enc, "Cats and dogs")
    # The tokenizer already ends the text with <|endoftext|>: exactly one, never <|im_end|>.
    assert seq.ids[-1] == end and seq.ids[-2] != end
    assert enc.tokenizer.convert_tokens_to_ids("<|im_end|>") not in seq.ids
    query = _sequence(enc, "Cats and dogs", "query")
    prompt = enc.tokenizer.decode(query.ids)
    assert prompt.startswith("Instruct: Given a web search query") and "\nQuery:Cats" in prompt
    ref = tiny_qwen3_embedding.reference
    want = torch.nn.functional.normalize(_states(ref, seq.ids)[-1], dim=0)
    got = torch.from_numpy(enc.encode_documents(["Cats and dogs"])[0])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    _assert_batch_equals_singles(enc)


def test_end_token_is_appended_when_the_tokenizer_adds_none(tiny_qwen2: Any) -> None:
    # An older Qwen3-Embedding snapshot's tokenizer adds nothing: <|endoftext|> is appended.
    from encoders.inputs import SequenceBuilder

    tok = load_encoder(str(tiny_qwen2.path)).tokenizer
    end = tok.convert_tokens_to_ids("<|endoftext|>")
    builder = SequenceBuilder(
        tok, query_template="{instruction}{text}", doc_template="{text}",
        instruction_format="{instruction}", max_tokens=64, append_eos=True,
        pool_special_tokens=False, end_token_id=end,
    )  # fmt: skip
    (seq,) = builder.build(0, tok("Cats", add_special_tokens=False)["input_ids"], "document", None)
    assert seq.ids[-1] == end and seq.ids.count(end) == 1


# -- DiffRetriever -----------------------------------------------------------------------------


def _wrapped_as_dream(body: Any) -> Any:
    """Dream's own DreamModel keeps the body under ``.model``: adapters are named that way."""
    from transformers import Qwen2ForCausalLM

    wrapper = Qwen2ForCausalLM(body.config)
    wrapper.model = body
    return wrapper


def _diffretriever_ids(enc: TransformerEncoder, text: str, kind: str, chat: Any) -> list[int]:
    """DiffRetriever's layout built by hand: [chat prefix][text][suffix][MASK][" end EOS]."""
    tok = enc.tokenizer
    word = "query" if kind == "query" else "passage"
    system = "You are an AI assistant that can understand human language."
    user = f'{word.capitalize()}: "X". Use one word to represent the {word} in a retrieval task. '
    user += "Make sure your word is in lowercase."
    rendered = chat(system, user)
    before, after = rendered.split("X", 1)
    after += 'The word is: "'

    def ids(s: str) -> list[int]:
        return list(tok(s, add_special_tokens=False)["input_ids"])

    return [*ids(before), *ids(text), *ids(after)]


def _qwen_chat(system: str, user: str) -> str:
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def _llama3_chat(system: str, user: str) -> str:
    return (
        "<|startoftext|><|start_header_id|>system<|end_header_id|>\n\n"
        f"{system}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def _check_diffretriever(enc: TransformerEncoder, merged: Any, mask: str, chat: Any) -> None:
    tok = enc.tokenizer
    mask_id = tok.convert_tokens_to_ids(mask)
    quote = tok('"', add_special_tokens=False)["input_ids"]
    tail = [quote[0], tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id]
    for kind in ("document", "query"):
        seq = _sequence(enc, TEXTS[1], kind)
        assert seq.ids == [*_diffretriever_ids(enc, TEXTS[1], kind, chat), mask_id, *tail]
        # Only the mask slot is pooled.
        assert [i for i, p in enumerate(seq.pool) if p] == [len(seq.ids) - 4]
    got_docs = torch.from_numpy(enc.encode_documents(TEXTS))
    got_queries = torch.from_numpy(enc.encode_queries(TEXTS))
    for got, kind in ((got_docs, "document"), (got_queries, "query")):
        want = torch.stack(
            [
                torch.nn.functional.normalize(
                    _states(merged, _sequence(enc, t, kind).ids)[-4], dim=0
                )
                for t in TEXTS
            ]
        )
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert (got_docs - got_queries).abs().max() > 1e-3  # the two prompts differ
    _assert_batch_equals_singles(enc)


def test_diffretriever_dream_reads_the_mask_slot(tiny_dream_chat: Any, tmp_path: Path) -> None:
    adapter = tmp_path / "diffretriever-dream"
    merged = tiny_dream_chat.reference
    from tests.encoders.tiny_formats import lora_adapter

    merged = lora_adapter(merged, adapter, LORA_TARGETS, seed=21, wrap=_wrapped_as_dream)
    merged.config.is_causal = False
    enc = load_encoder("diffretriever-dream", weights=tiny_dream_chat.path, adapter=adapter)
    assert (enc.pooling, enc.attention, enc.padding_side) == ("mask", "bidirectional", "left")
    for name, tensor in enc.backbone.state_dict().items():
        torch.testing.assert_close(tensor, merged.state_dict()[name], atol=1e-6, rtol=0)
    _check_diffretriever(enc, merged, "<|mask|>", _qwen_chat)


def test_diffretriever_llada_adapter_with_llada_names(tiny_llada_chat: Any, tmp_path: Path) -> None:
    from tests.encoders.tiny_formats import llada_lora_adapter

    adapter = tmp_path / "diffretriever-llada"
    merged = llada_lora_adapter(tiny_llada_chat.reference, adapter, seed=22)
    from safetensors.torch import load_file

    saved = load_file(str(adapter / "adapter_model.safetensors"))
    assert any(".transformer.blocks.0.attn_out.lora_A" in k for k in saved)
    assert any(".transformer.ff_out.lora_A" in k for k in saved)  # the LM head's LoRA
    enc = load_encoder("diffretriever-llada", weights=tiny_llada_chat.path, adapter=adapter)
    assert type(enc.backbone).__name__ == "LlamaModel"
    for name, tensor in enc.backbone.state_dict().items():
        torch.testing.assert_close(tensor, merged.state_dict()[name], atol=1e-6, rtol=0)
    _check_diffretriever(enc, merged, "<|mdm_mask|>", _llama3_chat)


def test_diffretriever_needs_its_adapter(tiny_dream_chat: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("DIFFSEARCH_ADAPTER_DIFFRETRIEVER_DREAM", raising=False)
    monkeypatch.delenv("DIFFSEARCH_MODELS_DIR", raising=False)
    with pytest.raises(EncoderError, match=r"ielabgroup/diffretriever-dream-7b-single"):
        load_encoder("diffretriever-dream", weights=tiny_dream_chat.path)


def test_mask_pooling_on_a_checkpoint_without_chat_template(
    tiny_dream: Any, tmp_path: Path
) -> None:
    from tests.encoders.tiny_formats import lora_adapter

    adapter = tmp_path / "a"
    lora_adapter(tiny_dream.reference, adapter, LORA_TARGETS, seed=3, wrap=_wrapped_as_dream)
    with pytest.raises(EncoderError, match="chat template"):
        load_encoder("diffretriever-dream", weights=tiny_dream.path, adapter=adapter)


def test_published_adapter_is_found_under_the_models_dir(
    tiny_dream_chat: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from tests.encoders.tiny_formats import lora_adapter

    monkeypatch.delenv("DIFFSEARCH_ADAPTER_DIFFRETRIEVER_DREAM", raising=False)
    monkeypatch.setenv("DIFFSEARCH_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("DIFFSEARCH_WEIGHTS_DIFFRETRIEVER_DREAM", str(tiny_dream_chat.path))
    lora_adapter(
        tiny_dream_chat.reference, tmp_path / "diffretriever-dream-7b-single", LORA_TARGETS,
        seed=23, wrap=_wrapped_as_dream,
    )  # fmt: skip
    enc = load_encoder("diffretriever-dream")
    plain = load_encoder("dream", weights=tiny_dream_chat.path)
    assert not torch.equal(
        enc.backbone.state_dict()["layers.0.mlp.up_proj.weight"],
        plain.backbone.state_dict()["layers.0.mlp.up_proj.weight"],
    )


def test_listing_shows_the_new_presets_with_sizes() -> None:
    rows = {r.name: r for r in list_encoders()}
    for name in (
        "pplx-embed-0.6b", "pplx-embed-4b", "pplx-embed-context-0.6b", "pplx-embed-context-4b",
        "qwen3-embedding", "qwen3-embedding-4b", "qwen3-embedding-8b",
        "diffretriever-dream", "diffretriever-llada",
    ):  # fmt: skip
        assert rows[name].download_gb > 0
    assert (rows["pplx-embed-4b"].dim, rows["pplx-embed-4b"].dims) == (2560, "128-2560")
    assert rows["pplx-embed-context-0.6b"].late_chunking == "default"
    assert rows["qwen3-embedding-8b"].late_chunking == "no"
    assert rows["diffretriever-llada"].pooling == "mask"
    assert rows["pplx-embed-0.6b"].quantize == ("int8", "binary")
