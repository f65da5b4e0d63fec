"""``train.fit`` on tiny random models: the loss falls, the saved folder reloads to the same
vectors, attention direction survives training, a killed run resumes to the same weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.train.conftest import adapter_tensors
from train import Mining, Recipe, TrainError, fit, from_pairs

FAST = Recipe(batch_size=8, epochs=3, lr=1e-2, warmup_ratio=0.0)
TEXTS = [
    "cats are discussed here, cats in text 1",
    "a short one",
    "rivers and bridges over rivers in the rain, with ships and bees and a long tail of words",
]


def _fit(encoder: str, pairs: Path, out: Path, recipe: Recipe = FAST, **kw: Any) -> Any:
    data = from_pairs(pairs, dev_fraction=kw.pop("dev_fraction", 0.25))
    kw.setdefault("negatives_cache", out.parent / "negatives")
    return fit(encoder, data, out, recipe=recipe, progress=False, **kw)


def test_loss_falls_and_dev_improves(tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    res = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "out")
    losses = res.card["epoch_losses"]
    assert losses[-1] < 0.6 * losses[0]
    dev = res.card["dev"]
    assert max(e["score"] for e in dev["epochs"]) > dev["before"]
    assert dev["end"] == pytest.approx(dev["best"], abs=1e-6)  # reloaded from disk, same score


def test_card_records_base_recipe_data_and_scores(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    res = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "out", name="tiny@toy")
    card = json.loads((res.out / "training_card.json").read_text())
    assert card["status"] == "done" and card["name"] == "tiny@toy"
    assert card["base"]["attention"] == "bidirectional" and card["base"]["pooling"] == "mean"
    assert card["base"]["fingerprint"] and card["base"]["model_id"] == str(tiny_bert_dir)
    # BERT: every projection of attention (query/key/value/output dense) and MLP (dense).
    assert card["lora"] == {"r": 16, "alpha": 32, "dropout": 0.05,
                            "target_modules": ["dense", "key", "query", "value"]}  # fmt: skip
    assert card["recipe"]["temperature"] == 0.02 and card["recipe"]["hard_negatives"] == 1
    assert card["data"]["kind"] == "pairs" and len(card["data"]["hash"]) == 16
    assert card["steps"] == len(card["losses"]) == 3 * 5  # 36 pairs, 27 train, batches of 8
    assert card["negatives"]["encoder"] == tiny_bert_dir.name
    assert "tiny@toy" in (res.out / "README.md").read_text()
    assert not (res.out / "checkpoints").exists()


def test_saved_adapter_reloads_to_the_vectors_in_memory(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    from encoders import load_encoder

    res = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "out", dev_fraction=0.0)
    loaded = load_encoder("tiny@toy", adapter=res.out)
    assert loaded.name == "tiny@toy" and loaded.info.as_dict()["spec"]["adapter_id"]
    np.testing.assert_allclose(
        loaded.encode_documents(TEXTS), res.model.encode_documents(TEXTS), atol=2e-6
    )
    np.testing.assert_allclose(
        loaded.encode_queries(TEXTS), res.model.encode_queries(TEXTS), atol=2e-6
    )
    base = load_encoder(str(tiny_bert_dir))
    assert not np.allclose(base.encode_documents(TEXTS), loaded.encode_documents(TEXTS), atol=1e-3)
    # The folder itself is an encoder too, named by its card.
    assert load_encoder(str(res.out)).name == res.name


def test_full_fine_tuning_reloads_to_the_vectors_in_memory(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    from encoders import load_encoder

    recipe = Recipe(method="full", batch_size=8, epochs=1, lr=1e-3)
    res = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "out", recipe, dev_fraction=0.0)
    assert (res.out / "model" / "config.json").is_file() and res.card["lora"] is None
    loaded = load_encoder("tiny@full", adapter=res.out)
    np.testing.assert_allclose(
        loaded.encode_documents(TEXTS), res.model.encode_documents(TEXTS), atol=2e-6
    )


def _prefix_states(encoder: Any, ids: list[list[int]]) -> torch.Tensor:
    """Last-layer states of each id list, through the encoder's own mask handling."""
    from encoders.inputs import Sequence

    seqs = [Sequence(ids=i, pool=[1] * len(i), owner=n, weight=len(i)) for n, i in enumerate(ids)]
    encoder.backbone.eval()  # no dropout
    with torch.inference_mode():
        hidden, _, _ = encoder._states(seqs)
    return hidden


def _assert_causal(encoder: Any, causal: bool) -> None:
    ids = encoder.tokenizer("the quick brown fox jumps over", add_special_tokens=False)["input_ids"]
    other = encoder.tokenizer("the quick brown owl", add_special_tokens=False)["input_ids"]
    keep = 3
    a = _prefix_states(encoder, [ids])[0, :keep]
    b = _prefix_states(encoder, [ids[:keep] + other[keep:]])[0, :keep]
    if causal:
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    else:
        assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("which", ["bert", "qwen2"])
def test_causal_model_stays_causal_after_training(
    which: str, tiny_bert_dir: Path, tiny_qwen2_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    """A causal encoder trains causal: early tokens' states ignore later tokens, before and after."""
    from encoders import load_encoder

    if which == "bert":  # the minilm-causal preset on tiny weights: an explicit 4-D causal mask
        encoder, weights = "minilm-causal", str(tiny_bert_dir)
    else:  # a Qwen2 folder is an AR encoder: config.is_causal
        encoder, weights = str(tiny_qwen2_dir), None
    res = _fit(encoder, pairs_file, tmp_path / "out", weights=weights, dev_fraction=0.0)
    assert res.card["base"]["attention"] == "causal"
    _assert_causal(res.model.encoder, causal=True)  # in memory, LoRA layers active
    loaded = load_encoder("trained@toy", adapter=res.out)
    assert loaded.attention == "causal"
    _assert_causal(loaded, causal=True)
    np.testing.assert_allclose(
        loaded.encode_documents(TEXTS), res.model.encode_documents(TEXTS), atol=2e-6
    )
    # The same check tells a bidirectional model apart (it would fail on one).
    _assert_causal(load_encoder(str(tiny_bert_dir)), causal=False)


class _Stop(KeyboardInterrupt):
    pass


def test_killed_run_resumes_to_the_same_weights(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    full = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "a", checkpoint_every=2)

    def stop_at_7(step: int, _stats: Any) -> None:
        if step == 7:  # after the checkpoint at 6, mid-epoch 2: step 7 is lost and redone
            raise _Stop

    with pytest.raises(_Stop):
        _fit(str(tiny_bert_dir), pairs_file, tmp_path / "b", checkpoint_every=2, on_step=stop_at_7)
    assert (tmp_path / "b" / "checkpoints" / "latest").read_text() == "step-0000006"
    lines: list[str] = []
    resumed = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "b", checkpoint_every=2,
                   log=lines.append)  # fmt: skip
    assert resumed.resumed and any("resuming at step 6" in line for line in lines)
    assert resumed.card["losses"] == full.card["losses"]
    assert resumed.card["dev"]["epochs"] == full.card["dev"]["epochs"]
    want, got = adapter_tensors(full.out), adapter_tensors(resumed.out)
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key


def test_same_seed_same_weights_other_seed_other_weights(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    one = Recipe(batch_size=8, epochs=1, lr=1e-2)
    a = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "a", one, dev_fraction=0.0)
    b = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "b", one, dev_fraction=0.0)
    c = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "c", Recipe(batch_size=8, epochs=1,
             lr=1e-2, seed=1), dev_fraction=0.0)  # fmt: skip
    ta, tb, tc = (adapter_tensors(x.out) for x in (a, b, c))
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert not all(torch.equal(ta[k], tc[k]) for k in ta)


def test_out_folder_is_never_overwritten_unasked(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(TrainError, match="not a training folder"):
        _fit(str(tiny_bert_dir), pairs_file, out)
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    done = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "done", Recipe(batch_size=8))
    with pytest.raises(TrainError, match="already holds the trained encoder"):
        _fit(str(tiny_bert_dir), pairs_file, done.out, Recipe(batch_size=8))
    again = _fit(str(tiny_bert_dir), pairs_file, done.out, Recipe(batch_size=8, seed=3),
                 overwrite=True)  # fmt: skip
    assert again.card["recipe"]["seed"] == 3


def test_unfinished_run_with_other_settings_is_refused(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    def stop(step: int, _stats: Any) -> None:
        raise _Stop

    with pytest.raises(_Stop):
        _fit(str(tiny_bert_dir), pairs_file, tmp_path / "out", on_step=stop)
    with pytest.raises(TrainError, match=r"unfinished run with other settings.*recipe"):
        _fit(str(tiny_bert_dir), pairs_file, tmp_path / "out", Recipe(batch_size=4))


def test_mining_is_cached_and_excludes_positives(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    from encoders import load_encoder
    from train.mining import mine

    data = from_pairs(pairs_file, dev_fraction=0.25)
    encoder = load_encoder(str(tiny_bert_dir))
    first = mine(data, encoder, Mining(depth=5), cache_dir=tmp_path)
    assert not first.cached and len(list(tmp_path.glob("*.json"))) == 1
    for qid, units in first.negatives.items():
        relevant = {**data.qrels, **data.dev_qrels}[qid]
        assert len(units) == 5 and not set(units) & set(relevant)
    again = mine(data, encoder, Mining(depth=5), cache_dir=tmp_path)
    assert again.cached and again.negatives == first.negatives
    skipped = mine(data, encoder, Mining(depth=3, skip=2), cache_dir=tmp_path)
    assert not skipped.cached  # other settings, other key
    assert all(skipped.negatives[q] == first.negatives[q][2:5] for q in first.negatives)
    # fit reads the same cache: no second mining.
    lines: list[str] = []
    fit(str(tiny_bert_dir), data, tmp_path / "out", recipe=Recipe(batch_size=8),
        mining=Mining(depth=5), negatives_cache=tmp_path, log=lines.append, progress=False)  # fmt: skip
    assert any("read from the cache" in line for line in lines)


def test_given_negatives_come_first(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from train.loop import _Batcher

    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"query": "q one", "positive": "p one", "negatives": ["n one", "n two"]}) + "\n"
        + json.dumps({"query": "q two", "positive": ["p two", "p two b"]}) + "\n"
    )  # fmt: skip
    data = from_pairs(path, dev_fraction=0.0)
    assert len(data.examples) == 3  # one per (query, positive)
    batch = _Batcher(data, None, Recipe(hard_negatives=1)).batch([0, 1, 2], 0)
    assert batch.documents[0] == "p one" and batch.documents[3] == "n one"
    assert set(batch.documents[1:3]) == {"p two", "p two b"}
    mask = batch.false_negatives()
    assert mask[1, 2] and mask[2, 1] and not mask[0].any()  # q two's two positives


def test_trained_encoder_spec_round_trip_and_other_weights_refused(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path
) -> None:
    from encoders import EncoderError, EncoderSpec, ModelPaths, load_encoder, spec_from_record
    from encoders.resolve import encoder_name
    from search.service import load_index_encoder

    one = Recipe(batch_size=8, epochs=1, lr=1e-2)
    a = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "a", one, dev_fraction=0.0)
    b = _fit(str(tiny_bert_dir), pairs_file, tmp_path / "b", Recipe(batch_size=8, epochs=1,
             lr=1e-2, seed=1), dev_fraction=0.0)  # fmt: skip
    # --adapter tiny@toy=DIR on a command line: a ModelPaths applied to the named spec.
    spec = ModelPaths(adapters={"tiny@toy": str(a.out)}).apply(EncoderSpec("tiny@toy"))
    assert encoder_name(spec) == "tiny@toy"  # named without loading anything
    enc = load_encoder(spec)
    recorded = enc.info.as_dict()
    assert recorded["spec"]["adapter"] == str(a.out) and recorded["spec"]["adapter_id"]
    assert EncoderSpec.from_json(enc.spec.to_json()) == enc.spec
    # What the index recorded rebuilds the same encoder (a cache hit) ...
    assert load_index_encoder(recorded) is enc
    # ... and other trained weights under the same name are refused, naming the fix.
    other = ModelPaths(adapters={"tiny@toy": str(b.out)})
    assert spec_from_record(recorded, other).adapter == str(b.out)
    with pytest.raises(EncoderError, match=r"not the ones asked for.*--adapter tiny@toy=DIR"):
        load_index_encoder(recorded, other)
    with pytest.raises(EncoderError, match="needs its folder: --adapter tiny@x=DIR"):
        load_encoder("tiny@x")
