"""Training encodes exactly as inference does, through the same code; the step API works as the
GPU benchmark uses it; trained folders refuse a base they were not trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from train import Recipe, fit, from_pairs
from train.model import build_trainable, linear_module_names, make_trainable
from train.step import batch_of, info_nce, make_optimizer, train_step

TEXTS = [
    "Masked diffusion language models denoise every position at once.",
    "short",
    "A much longer passage about retrieval, with padding needed on its batch-mates, "
    "so that left and right padding and token-budget batches all come into play here.",
]


def _resolved(**kw: object) -> Recipe:
    return Recipe(**kw).resolved(family="encoder", device="cpu", bf16_supported=False)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["minilm", "minilm-causal"])
def test_training_path_equals_inference_on_minilm(name: str) -> None:
    """Real MiniLM: the trainable (unfused, LoRA injected, gradients on) gives the vectors of
    the inference encoder (fused oneDNN linears, inference_mode) for the same weights."""
    from encoders import load_encoder

    infer = load_encoder(name)
    model = build_trainable(name, _resolved())
    model.train(False)
    q = model.embed_queries(TEXTS)
    d = model.embed_documents(TEXTS)
    assert q.requires_grad and d.requires_grad  # the graph is there: training can use it
    np.testing.assert_allclose(q.detach().numpy(), infer.encode_queries(TEXTS), atol=1e-5)
    np.testing.assert_allclose(d.detach().numpy(), infer.encode_documents(TEXTS), atol=1e-5)


def test_lora_targets_every_projection(tiny_qwen2_dir: Path, tiny_bert_dir: Path) -> None:
    from encoders.registry import fresh_encoder

    qwen = fresh_encoder(str(tiny_qwen2_dir))
    assert linear_module_names(qwen.backbone) == [
        "down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj",
    ]  # fmt: skip
    model = make_trainable(qwen, _resolved())
    trainable = [n for n, _ in model.named_trainable()]
    assert trainable and all("lora_" in n for n in trainable)
    assert len(trainable) == 2 * 7 * 2  # A and B, 7 projections, 2 layers
    bert = fresh_encoder(str(tiny_bert_dir))
    assert linear_module_names(bert.backbone) == ["dense", "key", "query", "value"]


def test_the_fused_inference_encoder_is_refused_for_training(tiny_bert_dir: Path) -> None:
    from encoders import load_encoder
    from train import TrainError

    with pytest.raises(TrainError, match="fused"):
        make_trainable(load_encoder("minilm"), _resolved())


def test_train_step_on_a_given_model_and_batch(tiny_qwen2_dir: Path) -> None:
    """The GPU benchmark's entry point: build, make trainable, one step; the loss falls."""
    from encoders.registry import fresh_encoder

    model = make_trainable(fresh_encoder(str(tiny_qwen2_dir)), _resolved(lr=1e-2))
    batch = batch_of(
        ["cats?", "dogs?", "rain?"],
        ["cats are pets", "dogs bark", "rain falls"],
        [["the river bank"], ["a quick fox"], ["lazy dog"]],
    )
    optimizer, scheduler = make_optimizer(model, model.recipe, total_steps=10)
    first = train_step(model, batch, optimizer, scheduler)
    for _ in range(5):
        last = train_step(model, batch, optimizer, scheduler)
    assert last.loss < first.loss
    assert first.tokens > 0 and first.seconds > 0


def test_gradient_checkpointing_gives_the_same_gradients(tiny_qwen2_dir: Path) -> None:
    from encoders.registry import fresh_encoder

    batch = batch_of(["cats?", "rain?"], ["cats are pets", "rain falls"], [["a fox"], ["a dog"]])
    grads = []
    for ckpt in (False, True):
        model = make_trainable(
            fresh_encoder(str(tiny_qwen2_dir)),
            _resolved(gradient_checkpointing=ckpt, lora_dropout=0.0),
        )
        with torch.no_grad():  # non-zero B so that every LoRA weight gets a gradient
            for n, p in model.named_trainable():
                if "lora_B" in n:
                    p.fill_(0.01)
        model.train()
        loss = info_nce(
            model.embed_queries(batch.queries), model.embed_documents(batch.documents), 0.02,
            batch.false_negatives(),
        )  # fmt: skip
        loss.backward()
        assert model.encoder.backbone.is_gradient_checkpointing == ckpt
        grads.append({n: p.grad.clone() for n, p in model.named_trainable()})
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, atol=1e-6, rtol=1e-5)


def test_bf16_lora_trains_with_float32_adapters(tiny_qwen2_dir: Path) -> None:
    from encoders.registry import fresh_encoder

    model = make_trainable(
        fresh_encoder(str(tiny_qwen2_dir), dtype="bfloat16"), _resolved(bf16=True)
    )
    assert {p.dtype for _, p in model.named_trainable()} == {torch.float32}
    assert next(model.encoder.backbone.parameters()).dtype == torch.bfloat16
    batch = batch_of(["cats?", "rain?"], ["cats are pets", "rain falls"])
    optimizer, _ = make_optimizer(model, model.recipe, 2)
    stats = train_step(model, batch, optimizer)
    assert np.isfinite(stats.loss)


def test_info_nce_masks_false_negatives() -> None:
    q = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    d = torch.cat([q, q[:1]])  # query 0's positive appears again as a negative of query 0
    batch = batch_of(["a", "b"], ["x", "y"], [["x"]])
    mask = batch.false_negatives()
    assert mask.tolist() == [[False, False, True], [False, False, False]]
    masked = info_nce(q, d, 0.02, mask)
    unmasked = info_nce(q, d, 0.02, torch.zeros_like(mask))
    assert masked < unmasked


@pytest.fixture
def trained(tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path) -> Path:
    data = from_pairs(pairs_file, dev_fraction=0.0)
    res = fit("minilm-causal", data, tmp_path / "out", weights=str(tiny_bert_dir),
              recipe=Recipe(batch_size=16, epochs=1), negatives_cache=tmp_path / "neg",
              progress=False)  # fmt: skip
    return res.out


@pytest.mark.filterwarnings("ignore:.*has hidden size:UserWarning")
def test_a_base_that_does_not_match_the_card_is_refused(
    trained: Path, tiny_qwen2_dir: Path, tmp_path: Path
) -> None:
    from encoders import EncoderError, load_encoder

    # Trained on minilm-causal: the bidirectional minilm preset is another model.
    with pytest.raises(EncoderError, match=r"trained on 'minilm-causal'.*not on 'minilm'"):
        load_encoder("minilm", adapter=trained)
    # Other base weights than the ones it was trained on.
    with pytest.raises(EncoderError, match=r"fingerprint .* but the weights found .*fingerprint"):
        load_encoder("x@y", adapter=trained, weights=str(tiny_qwen2_dir))
    # Under its base preset's own name it loads (as diffembed takes an adapter trained on dream).
    assert load_encoder("minilm-causal", adapter=trained).info.as_dict()["spec"]["adapter_id"]
    # A plain folder cannot define a new encoder name.
    with pytest.raises(EncoderError, match="not a `diffsearch train` output folder"):
        load_encoder("x@z", adapter=tiny_qwen2_dir)
    with pytest.raises(EncoderError, match="--adapter x@w=DIR"):
        load_encoder("x@w")
