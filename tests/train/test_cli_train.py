"""``diffsearch train`` end to end: data sources, one-line errors, and the trained encoder used by
ingest, search and eval through ``--adapter NAME=DIR``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.train.conftest import TOPICS
from train import TrainError, from_beir, from_pairs
from ui.cli import main

QUICK = ["--epochs", "1", "--batch-size", "8", "--quiet"]


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("diffsearch train: error:") and needle in err
    assert "\n" not in err and "Traceback" not in err


def test_train_on_pairs_and_refuse_to_overwrite(
    tiny_bert_dir: Path, pairs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["train", str(tiny_bert_dir), "--pairs", str(pairs_file), "--out", str(out),
            "--negatives-cache", str(tmp_path / "neg"), *QUICK]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"trained '{tiny_bert_dir.name}@pairs'" in printed and "--adapter" in printed
    card = json.loads((out / "training_card.json").read_text())
    assert card["status"] == "done" and card["recipe"]["epochs"] == 1
    _one_line_error(capsys, argv, "already holds the trained encoder")
    assert main([*argv, "--overwrite", "--seed", "2"]) == 0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "no training pairs"),
        ('{"query": "q", "positive": "p"}\nnot json\n', ":2: not JSON"),
        ('{"query": "q"}\n', "'positive' is missing or empty: every query needs a positive"),
        ('{"query": "q", "positive": ""}\n', "every query needs a positive"),
        ('{"query": "", "positive": "p"}\n', "'query' must be a non-empty string"),
        ('["q", "p"]\n', "expected an object"),
        ('{"query": "q", "positive": "p", "negatives": [1]}\n', "'negatives' must be"),
    ],
)
def test_bad_pairs_are_one_line_errors(
    content: str, needle: str, tiny_bert_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    out = tmp_path / "out"
    _one_line_error(capsys, ["train", str(tiny_bert_dir), "--pairs", str(path), "--out", str(out)],
                    needle)  # fmt: skip
    assert not out.exists()  # nothing written for bad data


def _tiny_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as fh:
        for i, t in enumerate(TOPICS):
            fh.write(
                json.dumps({"_id": f"d{i}", "title": t.title(), "text": f"All about {t}."}) + "\n"
            )
    with (root / "queries.jsonl").open("w") as fh:
        for i, t in enumerate(TOPICS):
            fh.write(json.dumps({"_id": f"q{i}", "text": f"what about {t}?"}) + "\n")
    train = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(12)]
    (root / "qrels" / "train.tsv").write_text("\n".join(train) + "\nq12\td12\t0\n")
    dev = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(12, 16)]
    (root / "qrels" / "dev.tsv").write_text("\n".join(dev) + "\n")
    return root


def test_beir_source_dev_split_and_fraction(tmp_path: Path) -> None:
    root = _tiny_beir(tmp_path / "beir")
    by_fraction = from_beir(root, "train", dev_fraction=0.25)
    assert len(by_fraction.qrels) == 9 and len(by_fraction.dev_qrels) == 3
    assert by_fraction.skipped == 1  # q12 is judged, but nothing relevant
    assert by_fraction.units["d0"] == "Cats\n\nAll about cats."  # as `diffsearch eval` embeds it
    by_split = from_beir(root, "train", dev_split="dev")
    assert set(by_split.dev_qrels) == {"q12", "q13", "q14", "q15"} and len(by_split.qrels) == 12
    assert by_split.queries["q13"] == f"what about {TOPICS[13]}?"
    assert by_split.fingerprint != by_fraction.fingerprint
    with pytest.raises(TrainError, match=r"no qrels split 'valid' \(splits here: dev, train\)"):
        from_beir(root, "train", dev_split="valid")
    with pytest.raises(TrainError, match=r"qrels/test.tsv not found.*splits here: dev, train"):
        from_beir(root, "test")


def test_missing_split_on_the_cli(
    tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tiny_beir(tmp_path / "beir")
    base = ["train", str(tiny_bert_dir), "--beir", str(root), "--out", str(tmp_path / "o")]
    _one_line_error(capsys, [*base, "--split", "nope"], "splits here: dev, train")
    _one_line_error(capsys, ["train", str(tiny_bert_dir), "--out", str(tmp_path / "o")],
                    "give one source of training data")  # fmt: skip
    _one_line_error(capsys, [*base, "--lr", "-1"], "learning rate must be positive")


def test_pairs_dev_fraction(pairs_file: Path) -> None:
    data = from_pairs(pairs_file, dev_fraction=0.25)
    assert len(data.dev_qrels) == 12 and len(data.qrels) == 36
    assert set(data.dev_qrels).isdisjoint(data.qrels)
    assert from_pairs(pairs_file, dev_fraction=0.25).dev_qrels == data.dev_qrels  # seeded
    with pytest.raises(TrainError, match="dev fraction"):
        from_pairs(pairs_file, dev_fraction=1.0)


def _write_docs(folder: Path) -> Path:
    folder.mkdir()
    for t in TOPICS:
        body = " ".join(f"{t} fact number {k}." for k in range(12))
        (folder / f"{t}.md").write_text(f"# {t.title()}\n\n{body}\n")
    return folder


def test_judged_questions_train_an_encoder_that_every_command_loads(
    tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from encoders import load_encoder
    from ingest import ingest_folder
    from search.store import open_store

    docs = _write_docs(tmp_path / "docs")
    store = ["--store", str(tmp_path / "store")]
    enc = str(tiny_bert_dir)
    with open_store(path=tmp_path / "store") as s:  # chunks of 24 tokens: several per document
        ingest_folder(docs, index="notes", encoders=[load_encoder(enc)], store=s,
                      chunking="tokens", chunk_tokens=24, overlap=4, workers=0, bars=False)  # fmt: skip
    judged = tmp_path / "judged.jsonl"
    with judged.open("w") as fh:
        for t in TOPICS:
            fh.write(json.dumps({"query": f"facts about {t}", "relevant": [f"{t}.md"]}) + "\n")
        fh.write(json.dumps({"query": "nothing relevant here", "relevant": []}) + "\n")
    out = tmp_path / "trained"
    capsys.readouterr()
    assert main(["train", enc, "--judgments", str(judged), "--index", "notes", "--out", str(out),
                 "--name", "tiny@notes", "--dev-fraction", "0.25", "--negatives-cache",
                 str(tmp_path / "neg"), *QUICK, *store]) == 0  # fmt: skip
    card = json.loads((out / "training_card.json").read_text())
    assert card["data"]["kind"] == "judgments" and card["data"]["units"] > len(TOPICS)
    adapter = ["--adapter", f"tiny@notes={out}"]
    # ingest: the index gains the trained encoder, recorded with its adapter id.
    assert main(["ingest", str(docs), "--index", "notes", "-e", "tiny@notes", "--chunking",
                 "tokens", "--chunk-tokens", "24", "--overlap", "4", "--workers", "0", "--json",
                 *adapter, *store]) == 0  # fmt: skip
    capsys.readouterr()
    with open_store(path=tmp_path / "store") as s:
        recorded = s.index_info("notes").encoders["tiny@notes"]
    assert recorded["spec"]["adapter_id"] and recorded["spec"]["adapter"] == str(out.resolve())
    assert recorded["attention"] == "bidirectional"
    from search.service import load_index_encoder

    assert load_index_encoder(recorded).info.as_dict() == recorded  # the trained one, not its base
    # search and compare with it; eval scores it beside its base.
    assert main(["search", "facts about bees", "--index", "notes", "-e", "tiny@notes", "--json",
                 *adapter, *store]) == 0  # fmt: skip
    hits = json.loads(capsys.readouterr().out)
    assert hits and "bees" in json.dumps(hits)
    assert main(["compare", "facts about bees", "--index", "notes", "-e", tiny_bert_dir.name, "-e", "tiny@notes",
                 *adapter, *store]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["eval", "--judgments", str(judged), "--index", "notes", "--json", "--quiet",
                 "--resamples", "200", "--out", str(tmp_path / "res"), *adapter, *store]) == 0  # fmt: skip
    scored = json.loads(capsys.readouterr().out)
    assert set(scored["encoders"]) == {tiny_bert_dir.name, "tiny@notes"}
    # The web UI (what `diffsearch ui --adapter tiny@notes=DIR` serves): side by side.
    from ui.web.handlers import WebContext
    from ui.web.handlers.searching import search

    with open_store(path=tmp_path / "store") as s:
        view = search(WebContext(s), "facts about bees", "notes", "tiny@notes", tiny_bert_dir.name)
    assert "ds-msg-error" not in view.header and "bees" in view.results
