"""``fit``: the training run, from data to a loadable encoder folder, resumable after a kill.

A run: check the output folder; mine hard negatives (cached); score the dev part before
training; then epochs of steps, each a shuffled batch of training pairs with their hard
negatives (:func:`train.step.train_step`), a checkpoint every N steps and at each epoch's end,
and a dev score after each epoch. The best epoch's weights are kept in the output folder, then
reloaded through ``load_encoder`` for the final dev score, and the training card is written.

Everything random follows from the seed: the data order of each epoch, the choice of hard
negatives, LoRA's initialisation and dropout (the torch RNG state is checkpointed). A rerun of
the same command continues from the last checkpoint and reaches the weights an uninterrupted
run reaches.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from train.card import make_card, read_raw, readme, versions, write_json
from train.data import TrainingData
from train.dev import METRIC, DevSet, build_dev, dev_score
from train.errors import TrainError
from train.mining import Mined, default_cache_dir, mine
from train.recipe import Mining, Recipe
from train.step import Batch, StepStats

Log = Callable[[str], None]
CHECKPOINTS = "checkpoints"


def _quiet(_: str) -> None:
    return None


@dataclass
class FitResult:
    """A finished run.

    Attributes:
        out: The output folder (``--adapter NAME=out`` loads it).
        name: The trained encoder's name.
        card: The training card.
        resumed: True when the run continued an interrupted one.
        model: The model in memory at the end (the last epoch's weights; ``out`` keeps the
            best epoch's, which are these unless an earlier epoch scored higher on dev).
    """

    out: Path
    name: str
    card: dict[str, Any]
    resumed: bool
    model: Any = None


def default_name(encoder: str, data: TrainingData) -> str:
    """``<encoder>@<data>``, e.g. ``minilm@scifact``."""
    base = Path(encoder).name if os.sep in encoder else encoder
    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", data.name.lower()).strip("-.") or "data"
    return f"{base}@{tag}"


def _base_preset(encoder: str) -> Any:
    from encoders.presets import PRESETS
    from encoders.resolve import preset_for_folder

    if encoder in PRESETS:
        return PRESETS[encoder]
    path = Path(encoder).expanduser()
    if (path / "config.json").is_file():
        return preset_for_folder(path.resolve())
    from encoders.errors import UnknownEncoderError

    raise UnknownEncoderError(
        f"unknown encoder {encoder!r}: train a preset ({', '.join(PRESETS)}) or a local model folder"
    )


def _prepare_out(out: Path, run_id: str, settings: dict[str, Any], overwrite: bool) -> bool:
    """Make ``out`` ready; True when it holds this run, interrupted (resume).

    Raises:
        TrainError: ``out`` holds something else and ``overwrite`` is off.
    """
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return False
    if overwrite:
        shutil.rmtree(out)
        out.mkdir(parents=True)
        return False
    card = read_raw(out)
    if card is None:
        raise TrainError(
            f"--out {out} exists and is not a training folder; choose another --out or pass "
            "--overwrite to replace its contents"
        )
    if card.get("status") == "done":
        raise TrainError(
            f"--out {out} already holds the trained encoder {card.get('name')!r}; choose another "
            "--out or pass --overwrite to train again"
        )
    if card.get("run_id") != run_id:
        old = card.get("settings") or {}
        diff = [k for k in sorted(set(old) | set(settings)) if old.get(k) != settings.get(k)]
        said = "; ".join(f"{k}: {old.get(k)!r} then, {settings.get(k)!r} now" for k in diff[:4])
        raise TrainError(
            f"--out {out} holds an unfinished run with other settings ({said or 'changed'}); rerun "
            "it with the same settings to resume, or pass --overwrite to start over"
        )
    return True


# -- checkpoints ------------------------------------------------------------------------------


def _save_checkpoint(
    out: Path, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]
) -> None:
    """Write a checkpoint atomically: a new folder, then the ``latest`` pointer, then cleanup."""
    import torch
    from safetensors.torch import save_file

    root = out / CHECKPOINTS
    root.mkdir(exist_ok=True)
    name = f"step-{state['step']:07d}"
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(model.state(), str(tmp / "weights.safetensors"))
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng},
        tmp / "training.pt",
    )
    write_json(tmp / "state.json", state)
    final = root / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    pointer = root / "latest"
    pointer_tmp = root / ".latest.tmp"
    pointer_tmp.write_text(name, encoding="utf-8")
    os.replace(pointer_tmp, pointer)
    for old in root.iterdir():
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(
    out: Path, model: Any, optimizer: Any, scheduler: Any
) -> dict[str, Any] | None:
    import torch
    from safetensors.torch import load_file

    root = out / CHECKPOINTS
    try:
        folder = root / (root / "latest").read_text(encoding="utf-8").strip()
        state: dict[str, Any] = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        extra = torch.load(folder / "training.pt", map_location="cpu", weights_only=True)
        tensors = load_file(str(folder / "weights.safetensors"))
    except (OSError, ValueError):
        return None
    model.load_state(tensors)
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    torch.set_rng_state(extra["rng"]["torch"])
    if "cuda" in extra["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(extra["rng"]["cuda"])
    return state


# -- batches ----------------------------------------------------------------------------------


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The order of the ``n`` training examples in ``epoch`` (a function of seed and epoch)."""
    order = list(range(n))
    random.Random(f"order-{seed}-{epoch}").shuffle(order)
    return order


class _Batcher:
    """Builds the batch of a step: queries, positives (units), hard negatives."""

    def __init__(self, data: TrainingData, mined: Mined | None, recipe: Recipe) -> None:
        self.data = data
        self.mined = mined
        self.recipe = recipe
        self.units_of = data.units_of()

    def unit_for(self, qid: str, doc: str) -> str:
        units = self.units_of[doc]
        if len(units) == 1 or self.mined is None:
            return units[0]
        return self.mined.best_unit.get(qid, {}).get(doc, units[0])

    def negatives(self, index: int, epoch: int) -> list[str]:
        ex = self.data.examples[index]
        want = self.recipe.hard_negatives
        chosen = list(ex.negatives[:want])
        if len(chosen) < want and self.mined is not None:
            pool = [u for u in self.mined.negatives.get(ex.qid, []) if u not in chosen]
            rng = random.Random(f"neg-{self.recipe.seed}-{epoch}-{index}")
            chosen += rng.sample(pool, min(want - len(chosen), len(pool)))
        return chosen

    def batch(self, indices: list[int], epoch: int) -> Batch:
        data = self.data
        examples = [data.examples[i] for i in indices]
        positives = [self.unit_for(e.qid, e.positive) for e in examples]
        negatives = [u for i in indices for u in self.negatives(i, epoch)]
        units = positives + negatives
        return Batch(
            queries=[data.queries[e.qid] for e in examples],
            documents=[data.units[u] for u in units],
            document_ids=[data.doc_of[u] for u in units],
            relevant=[frozenset(data.qrels[e.qid]) for e in examples],
        )


# -- the run ----------------------------------------------------------------------------------


def fit(
    encoder: str,
    data: TrainingData,
    out: str | Path,
    *,
    recipe: Recipe | None = None,
    mining: Mining | None = None,
    name: str | None = None,
    weights: str | None = None,
    device: str | None = None,
    dev_docs: int = 2000,
    checkpoint_every: int = 50,
    overwrite: bool = False,
    negatives_cache: str | Path | None = None,
    progress: bool | None = None,
    log: Log = _quiet,
    on_step: Callable[[int, StepStats], None] | None = None,
    model_paths: Any = None,
) -> FitResult:
    """Fine-tune ``encoder`` contrastively on ``data`` and write a loadable folder to ``out``.

    Args:
        encoder: Preset name or local model folder to train from.
        data: From :func:`train.data.from_beir`, ``from_judgments`` or ``from_pairs``.
        out: Output folder: the peft adapter (or ``model/`` after full fine-tuning), the
            training card and, while running, ``checkpoints/``.
        recipe: Hyper-parameters (default: the paper's recipe).
        mining: Hard-negative mining settings.
        name: The trained encoder's name (default ``<encoder>@<data>``).
        weights: Local weights folder of a preset.
        device: ``cpu``, ``cuda``, ... (default as for ``load_encoder``).
        dev_docs: Largest dev corpus (0: the whole corpus).
        checkpoint_every: Steps between checkpoints (epoch ends always checkpoint).
        overwrite: Replace whatever ``out`` holds.
        negatives_cache: Folder of mined negatives (default :func:`default_cache_dir`).
        progress: Progress bars on stderr (default: when stderr is a terminal).
        log: Receives one line per event (mining, dev scores, checkpoints).
        on_step: Called after each step with the step number (1-based) and its stats.
        model_paths: ``encoders.ModelPaths`` the user named (``--weights`` / ``--adapter``): the
            base's weights when ``weights`` is not given, and the mining encoder's folders.

    Raises:
        TrainError: Bad options, data, or output folder.
        EncoderError: The encoder cannot be loaded.
    """
    import torch

    from encoders import EncoderSpec, ModelPaths, load_encoder
    from encoders.model import default_device
    from encoders.registry import fresh_encoder
    from encoders.trained import weights_fingerprint
    from encoders.weights import require_weights
    from train.model import build_trainable
    from train.step import make_optimizer, train_step

    t_start = time.perf_counter()
    if checkpoint_every < 1:
        raise TrainError("checkpoint every must be at least 1 step")
    if dev_docs < 0:
        raise TrainError("dev docs must be 0 (whole corpus) or more")
    recipe = recipe or Recipe()
    mining = mining or Mining()
    paths = model_paths or ModelPaths()
    preset = _base_preset(encoder)
    weights = weights or paths.weights_for(EncoderSpec(encoder), encoder)
    dev_name = device or default_device()
    bf16_ok = (
        dev_name.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    )
    recipe = recipe.resolved(family=preset.family, device=dev_name, bf16_supported=bf16_ok)
    name = name or default_name(encoder, data)
    base_path = (
        require_weights(preset, weights)
        if preset.hub_id != str(Path(encoder).expanduser().resolve())
        else Path(encoder).expanduser().resolve()
    )
    fingerprint = weights_fingerprint(base_path)
    settings = {
        "encoder": encoder, "name": name, "weights": fingerprint, "data": data.fingerprint,
        "recipe": recipe.as_dict(), "mining": mining.as_dict(), "dev_docs": dev_docs,
        "device": dev_name.split(":")[0],
    }  # fmt: skip
    run_id = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    out = Path(out).expanduser().resolve()
    resumed = _prepare_out(out, run_id, settings, overwrite)
    started = make_card(status="running", name=name, run_id=run_id, settings=settings)
    write_json(out / "training_card.json", {**(read_raw(out) or {}), **started})
    bars = sys.stderr.isatty() if progress is None else progress

    # Mining (cached) with the base encoder as inference loads it, unless told otherwise.
    miner_name = mining.encoder or encoder
    need_mining = (
        recipe.hard_negatives > 0
        or any(len(u) > 1 for u in data.units_of().values())
        or (dev_docs and len(data.units) > dev_docs and bool(data.dev_qrels))
    )
    mined: Mined | None = None
    if need_mining:
        miner_spec = paths.apply(EncoderSpec(miner_name), miner_name)
        miner = load_encoder(
            miner_spec.replace(weights=weights) if miner_name == encoder else miner_spec
        )
        cache = Path(negatives_cache).expanduser() if negatives_cache else default_cache_dir()
        log(f"hard negatives: ranking {len(data.units):,} texts for "
            f"{len(data.qrels) + len(data.dev_qrels):,} queries with {miner.name}")  # fmt: skip
        with _bar(bars, "mine", len(data.units)) as bar:
            mined = mine(data, miner, mining, cache_dir=cache, progress=bar.to)
        log(f"hard negatives: {'read from the cache' if mined.cached else f'mined in {mined.seconds:.1f} s'} "
            f"({cache / (mined.key + '.json')})")  # fmt: skip
    dev = build_dev(data, mined, dev_docs)

    model = build_trainable(encoder, recipe, weights=weights, device=device)
    spe = math.ceil(len(data.examples) / recipe.batch_size)
    total = spe * recipe.epochs
    optimizer, scheduler = make_optimizer(model, recipe, total)
    state: dict[str, Any] = {
        "step": 0, "losses": [], "tokens": 0, "train_seconds": 0.0, "before": None,
        "epochs": [], "best": None, "best_epoch": None,
    }  # fmt: skip
    loaded = _load_checkpoint(out, model, optimizer, scheduler) if resumed else None
    if loaded is not None:
        state = loaded
        log(f"resuming at step {state['step']} of {total}")
    else:
        torch.manual_seed(recipe.seed)  # dropout; LoRA's init was seeded when it was made
    if dev is not None:
        log(f"dev: {dev.describe()}")
        if state["before"] is None:
            state["before"] = dev_score(model, dev, recipe.instruction)
            log(f"dev {METRIC} before training: {state['before']:.4f}")
    batcher = _Batcher(data, mined, recipe)
    with _bar(bars, f"train {name}", total, initial=state["step"], unit="step") as bar:
        while state["step"] < total:
            step = state["step"]
            epoch, pos = divmod(step, spe)
            order = epoch_order(len(data.examples), recipe.seed, epoch)
            indices = order[pos * recipe.batch_size : (pos + 1) * recipe.batch_size]
            stats = train_step(model, batcher.batch(indices, epoch), optimizer, scheduler,
                               instruction=recipe.instruction)  # fmt: skip
            state["step"] = step + 1
            state["losses"].append(round(stats.loss, 6))
            state["tokens"] += stats.tokens
            state["train_seconds"] += stats.seconds
            bar.step(
                loss=stats.loss, tokens_s=stats.tokens / max(stats.seconds, 1e-9), epoch=epoch + 1
            )
            if pos == spe - 1:
                _end_epoch(out, model, dev, state, epoch + 1, spe, recipe, log)
                _save_checkpoint(out, model, optimizer, scheduler, state)
            elif state["step"] % checkpoint_every == 0:
                _save_checkpoint(out, model, optimizer, scheduler, state)
            if on_step is not None:
                on_step(state["step"], stats)

    # The kept weights, reloaded as every command loads them: the end score is theirs.
    card = _card(name, run_id, settings, out, model, data, mined, mining, dev, state, preset,
                 base_path, fingerprint, recipe)  # fmt: skip
    write_json(out / "training_card.json", card)
    if dev is not None:
        reloaded = fresh_encoder(str(out), trainable=False, device=device)
        card["dev"]["end"] = dev_score(reloaded, dev, recipe.instruction)
        log(f"dev {METRIC} of the kept weights, reloaded from {out}: {card['dev']['end']:.4f}")
        del reloaded
    card["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    write_json(out / "training_card.json", card)
    (out / "README.md").write_text(readme(card) + "\n", encoding="utf-8")
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return FitResult(out=out, name=name, card=card, resumed=resumed, model=model)


def _end_epoch(
    out: Path, model: Any, dev: DevSet | None, state: dict[str, Any], epoch: int, spe: int,
    recipe: Recipe, log: Log,
) -> None:  # fmt: skip
    losses = state["losses"][-spe:]
    mean_loss = sum(losses) / len(losses)
    score = dev_score(model, dev, recipe.instruction) if dev is not None else None
    state["epochs"].append(
        {"epoch": epoch, "step": state["step"], "loss": mean_loss, "score": score}
    )
    better = score is None or state["best"] is None or score > state["best"]
    if dev is not None:
        log(f"epoch {epoch}: mean loss {mean_loss:.4f}, dev {METRIC} {score:.4f}"
            + (" (best so far: kept)" if better else f" (best: epoch {state['best_epoch']})"))  # fmt: skip
    if better:
        state["best"], state["best_epoch"] = score, epoch
        model.save(out)


def _card(
    name: str, run_id: str, settings: dict[str, Any], out: Path, model: Any, data: TrainingData,
    mined: Mined | None, mining: Mining, dev: DevSet | None, state: dict[str, Any], preset: Any,
    base_path: Path, fingerprint: str, recipe: Recipe,
) -> dict[str, Any]:  # fmt: skip
    info = model.encoder.info
    base = {
        "encoder": info.name, "preset": preset.name if preset.hub_id != str(base_path) else str(base_path),
        "model_id": info.model_id, "revision": info.revision, "arch": preset.arch,
        "family": info.family, "attention": info.attention, "pooling": info.pooling,
        "max_tokens": model.base_max_tokens, "dim": info.dim, "weights": str(base_path),
        "fingerprint": fingerprint,
    }  # fmt: skip
    lora = None
    if recipe.method == "lora":
        lora = {"r": recipe.lora_r, "alpha": recipe.lora_alpha, "dropout": recipe.lora_dropout,
                "target_modules": model.targets}  # fmt: skip
    negatives = None
    if mined is not None:
        negatives = {**mining.as_dict(), "encoder": mined.miner.get("name"), "miner": mined.miner,
                     "per_query": recipe.hard_negatives, "cache_key": mined.key}  # fmt: skip
    dev_part = None
    if dev is not None:
        dev_part = {"metric": METRIC, "set": dev.describe(), "before": state["before"],
                    "epochs": state["epochs"], "best_epoch": state["best_epoch"],
                    "best": state["best"], "end": None}  # fmt: skip
    seconds = state["train_seconds"]
    return make_card(
        status="done", name=name, run_id=run_id, settings=settings, out=str(out),
        method=recipe.method, base=base, lora=lora, recipe=recipe.as_dict(), data=data.summary(),
        negatives=negatives, dev=dev_part, steps=state["step"], epochs=recipe.epochs,
        losses=state["losses"], epoch_losses=[e["loss"] for e in state["epochs"]],
        tokens=state["tokens"], train_seconds=round(seconds, 2),
        tokens_per_second=round(state["tokens"] / seconds, 1) if seconds else 0.0,
        device=str(model.device), versions=versions(),
    )  # fmt: skip


class _Bar:
    """A tqdm bar on stderr (or nothing), with loss and throughput in its postfix."""

    def __init__(
        self, enabled: bool, desc: str, total: int, initial: int = 0, unit: str = "it"
    ) -> None:
        self._bar: Any = None
        self._ema: float | None = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr,
                             dynamic_ncols=True)  # fmt: skip

    def to(self, _stage: str, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()

    def step(self, *, loss: float, tokens_s: float, epoch: int) -> None:
        self._ema = loss if self._ema is None else 0.9 * self._ema + 0.1 * loss
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{self._ema:.4f}", tok_s=f"{tokens_s:,.0f}", epoch=epoch,
                                  refresh=False)  # fmt: skip
            self._bar.update(1)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def _bar(enabled: bool, desc: str, total: int, initial: int = 0, unit: str = "it") -> _Bar:
    return _Bar(enabled, desc, total, initial, unit)
