"""Metrics against hand-computed cases and against pytrec_eval on the same runs."""

from __future__ import annotations

import math
import random

import pytest

from search.evaluation.metrics import (
    ap_at_k,
    evaluate,
    mean_scores,
    mrr_at_k,
    ndcg_at_k,
    parse_metric,
    recall_at_k,
    trec_ranking,
)


def test_trec_order_breaks_ties_by_doc_id_descending():
    assert trec_ranking({"a": 1.0, "c": 1.0, "b": 2.0, "d": 0.5}) == ["b", "c", "a", "d"]


def test_ndcg_hand_computed_graded():
    rels = {"a": 2, "b": 1, "c": 0, "x": 1}  # x is never retrieved
    ranking = ["c", "a", "b"]
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranking, rels, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(ranking, rels, 1) == 0.0  # top-1 is c (rel 0); ideal@1 = 2
    assert ndcg_at_k(["a", "b", "x"], rels, 10) == pytest.approx(1.0)


def test_recall_mrr_map_hand_computed():
    rels = {"a": 1, "b": 1, "z": 1, "n": 0}
    ranking = ["n", "a", "q", "b"]
    assert recall_at_k(ranking, rels, 100) == pytest.approx(2 / 3)
    assert recall_at_k(ranking, rels, 2) == pytest.approx(1 / 3)
    assert mrr_at_k(ranking, rels, 10) == pytest.approx(0.5)
    assert mrr_at_k(ranking, rels, 1) == 0.0
    # precisions at the relevant ranks 2 and 4: 1/2 and 2/4; three relevant in all
    assert ap_at_k(ranking, rels, 100) == pytest.approx((0.5 + 0.5) / 3)
    assert ap_at_k(ranking, rels, 3) == pytest.approx(0.5 / 3)


def test_evaluate_skips_queries_without_relevant_docs_and_zeroes_missing_runs():
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}, "q3": {"c": 2}}
    run = {"q1": {"a": 0.9, "b": 0.1}, "q2": {"b": 1.0}}
    per = evaluate(run, qrels, ["ndcg@10", "acc@1"])
    assert set(per) == {"q1", "q3"}
    assert per["q1"] == {"ndcg@10": 1.0, "acc@1": 1.0}
    assert per["q3"] == {"ndcg@10": 0.0, "acc@1": 0.0}
    assert mean_scores(per, ["ndcg@10"]) == {"ndcg@10": 0.5}


def test_parse_metric():
    assert parse_metric("NDCG@10").name == "ndcg@10"
    assert parse_metric("map@100").k == 100
    for bad in ("ndcg", "acc@5", "foo@1", "recall@0"):
        with pytest.raises(ValueError):
            parse_metric(bad)


def _random_case(seed: int) -> tuple[dict, dict]:
    rng = random.Random(seed)
    docs = [f"d{i:03d}" for i in range(150)]
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 25))
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        if not any(v > 0 for v in qrels[qid].values()):
            qrels[qid][judged[0]] = 1
        retrieved = rng.sample(docs, rng.randint(0, 130))
        # coarse scores make many ties, which trec_eval breaks by doc id
        run[qid] = {d: round(rng.random(), 1) for d in retrieved}
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pytrec_eval(seed):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, run = _random_case(seed)
    ours = evaluate(run, qrels, ["ndcg@10", "recall@100", "map@100", "acc@1", "p@5", "ndcg@3"])
    ev = pytrec_eval.RelevanceEvaluator(
        qrels, {"ndcg_cut.3,10", "recall.100", "map_cut.100", "P.1,5"}
    )
    theirs = ev.evaluate(run)
    # MRR@10: trec_eval's recip_rank on the run cut to its top 10 (in trec_eval's own order).
    cut = {q: {d: run[q][d] for d in trec_ranking(run[q])[:10]} for q in run}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    ours_mrr = evaluate(run, qrels, ["mrr@10"])
    checked = 0
    for qid, vals in ours.items():
        if qid not in theirs:  # pytrec_eval leaves out queries with an empty run
            assert not run[qid]
            continue
        t = theirs[qid]
        assert vals["ndcg@10"] == pytest.approx(t["ndcg_cut_10"], abs=1e-6)
        assert vals["ndcg@3"] == pytest.approx(t["ndcg_cut_3"], abs=1e-6)
        assert vals["recall@100"] == pytest.approx(t["recall_100"], abs=1e-6)
        assert vals["map@100"] == pytest.approx(t["map_cut_100"], abs=1e-6)
        assert vals["acc@1"] == pytest.approx(t["P_1"], abs=1e-6)
        assert vals["p@5"] == pytest.approx(t["P_5"], abs=1e-6)
        assert ours_mrr[qid]["mrr@10"] == pytest.approx(rr[qid]["recip_rank"], abs=1e-6)
        checked += 1
    assert checked >= 35
