"""Trains the embedded judge's entailment head and prints its leave-one-source-out table.

    pip install -e '.[train]'                 # torch 2.13.0 (CPU) for training only
    python bench/train_entailment.py pairs    # claims, their evidence passage, token vectors -> /tmp cache
    python bench/train_entailment.py loso     # per source: a head trained without it, scored on it
    python bench/train_entailment.py ship     # the head trained on every training source -> assets/
    python bench/train_entailment.py table    # print the recorded table (bench/results/entailment_loso.json)
    python bench/train_entailment.py baseline # the installed judge without a head, on the same rows

The head (metrics/judges/embedded/entailment.py) reads the sentence encoder's token vectors of a claim
and of its evidence passage, chosen as at run time (the claim's best sentence by the encoder, with its
neighbours); the encoder itself is not changed, so one head trains in minutes on 2 cores and every
source gets a head that never saw it. Sources: bench/faithfulness_sources.py. A run records its data
hash, settings and figures beside the weights; `--resume` picks up a LOSO run where it stopped.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faithfulness_sources as fs
from entailment_synthetic import synthetic_items
from ragmeter.metrics.judges.embedded.support import FEATURES

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("RAGMETER_TRAIN_DIR", "/tmp/ragmeter_entailment"))
ASSET = ROOT / "metrics" / "judges" / "embedded" / "assets" / "entailment_head.npz"
RESULTS = ROOT / "bench" / "results" / "entailment_loso.json"
BASELINE = ROOT / "bench" / "results" / "entailment_baseline.json"  # the last round's judge on the same rows
# Held out together: the synthetic news claims are edits of HaluEval summarization's articles.
RELATED = {"halueval_summarization": ("news",)}
LOSO = (*(f"summedits_{d}" for d in fs.SUMMEDITS_DOMAINS), "wice", "begin", "faithdial", "halueval_qa",
        "halueval_summarization")
EVAL_ONLY = ("qags_sentences", "qags_summaries", "robustness")
SETTINGS = {"dim": 96, "hidden": 64, "hidden2": 32, "epochs": 3, "batch": 128, "lr": 3e-3, "dropout": 0.1,
            "source_cap": 3000, "seed": 0, "claim_tokens": 64, "passage_tokens": 160}


# ------------------------------------------------------------------ pairs
def build_pairs() -> None:
    """Every training claim with its run-time evidence passage, lexical features and token vectors."""
    from ragmeter.metrics.judges.embedded.contexts import ContextStore
    from ragmeter.metrics.judges.embedded.encoder import Encoder
    from ragmeter.metrics.judges.embedded.judge import match_text
    from ragmeter.metrics.judges.embedded.support import Claim, best_match, claim_features, passage

    encoder = Encoder.load()
    store = ContextStore(encoder, max_entries=20_000)
    items = [it for s in fs.all_sources() for it in s.items] + synthetic_items()
    records: list[dict[str, Any]] = []
    started = time.time()
    for n, item in enumerate(items):
        index = store.index(item.contexts)
        parsed = [Claim.of(c, match_text(c, item.question) if item.as_answer else c) for c in item.claims]
        store.embed(parsed, index)
        found: list[dict[str, Any]] = []
        for claim, label in zip(parsed, item.labels, strict=True):
            features, ci, si, _ = claim_features(claim, index, best_match(claim, index))
            if ci is not None and si is not None:
                found.append({"src": item.source, "group": item.group, "claim": claim.probe,
                              "passage": passage(index, ci, si), "label": label,
                              "feats": [round(features[f], 5) for f in FEATURES]})
        if item.answer_hallucinated and found and all(r["label"] is None for r in found):
            # Only the answer is labelled: its least supported claim is the one that fails it.
            weakest = min(found, key=lambda r: (r["feats"][FEATURES.index("cov_all")],
                                                r["feats"][FEATURES.index("sim_max")]))
            weakest["label"] = 0
        records += [r for r in found if r["label"] is not None]
        if n % 2000 == 0:
            print(f"items {n}/{len(items)}, pairs {len(records)}, {time.time() - started:.0f}s", flush=True)
    texts = list(dict.fromkeys(t for r in records for t in (r["claim"], r["passage"])))
    print(f"{len(records)} pairs, {len(texts)} texts to encode", flush=True)
    states = []
    for i in range(0, len(texts), 2048):
        states += [s.astype(np.float16) for s in encoder.token_states(texts[i:i + 2048])]
        print(f"encoded {i + 2048}/{len(texts)} {time.time() - started:.0f}s", flush=True)
    offsets = np.cumsum([0] + [len(s) for s in states])
    WORK.mkdir(parents=True, exist_ok=True)
    np.save(WORK / "states.npy", np.concatenate(states))
    np.save(WORK / "offsets.npy", offsets)
    position = {t: i for i, t in enumerate(texts)}
    with (WORK / "pairs.jsonl").open("w") as sink:
        for r in records:
            sink.write(json.dumps({**r, "ci": position[r["claim"]], "pi": position[r["passage"]]}) + "\n")


def load_pairs() -> tuple[list[dict], np.ndarray, np.ndarray]:
    rows = [json.loads(line) for line in (WORK / "pairs.jsonl").open()]
    return rows, np.load(WORK / "states.npy", mmap_mode="r"), np.load(WORK / "offsets.npy")


_PREPARED: dict = {}


def prepared(dim: int) -> dict:
    """Pairs with their token vectors projected on the top `dim` principal axes, and each claim token's best
    cosine with its passage: computed once per process, shared by every head trained in it.

    The projection is fixed (PCA) and a small learned map sits on top: projecting the passages' tokens was
    most of a training step's cost, and this way it is done once.
    """
    if dim not in _PREPARED:
        rows, states, offsets = load_pairs()
        rng = np.random.default_rng(0)
        sample = np.asarray(states[np.sort(rng.choice(len(states), min(len(states), 200_000), replace=False))],
                            dtype=np.float32)
        mean = sample.mean(axis=0)
        _, vectors = np.linalg.eigh(np.cov(sample - mean, rowvar=False))
        axes = vectors[:, ::-1][:, :dim].astype(np.float32)
        reduced = np.concatenate([(np.asarray(states[i:i + 100_000], dtype=np.float32) - mean) @ axes
                                  for i in range(0, len(states), 100_000)])
        cosines = []
        for r in rows:
            a = np.asarray(states[offsets[r["ci"]]:offsets[r["ci"] + 1]], dtype=np.float32)
            b = np.asarray(states[offsets[r["pi"]]:offsets[r["pi"] + 1]], dtype=np.float32)
            a /= np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-6, None)
            b /= np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-6, None)
            cosines.append((a @ b.T).max(axis=1) if len(a) and len(b) else np.zeros(len(a), dtype=np.float32))
        _PREPARED[dim] = {"rows": rows, "states": states, "offsets": offsets, "mean": mean, "axes": axes,
                          "reduced": reduced, "cosines": cosines}
    return _PREPARED[dim]


def data_hash() -> str:
    digest = hashlib.sha256()
    with (WORK / "pairs.jsonl").open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------ training
def train(skip: set[str], settings: dict = SETTINGS) -> dict[str, np.ndarray]:
    """The head's weights, trained on every pair whose source is not in `skip`."""
    import torch

    torch.manual_seed(settings["seed"])
    # One thread: the head's matrices are small, and on a shared 2-core machine a second OpenMP thread
    # mostly waits for the other (measured: several times slower under load).
    torch.set_num_threads(int(os.environ.get("RAGMETER_TRAIN_THREADS", "1")))
    rng = random.Random(settings["seed"])
    data = prepared(settings["dim"])
    index = [i for i, r in enumerate(data["rows"]) if r["src"] not in skip]
    rows = [data["rows"][i] for i in index]
    cosines = [data["cosines"][i] for i in index]
    reduced, offsets = data["reduced"], data["offsets"]
    weights = example_weights(rows, settings["source_cap"])
    head = Head(settings)
    optimiser = torch.optim.AdamW(head.parameters(), lr=settings["lr"], weight_decay=1e-4)
    order = sorted(range(len(rows)), key=lambda i: offsets[rows[i]["pi"] + 1] - offsets[rows[i]["pi"]])
    batches = [order[i:i + settings["batch"]] for i in range(0, len(order), settings["batch"])]
    steps = len(batches) * settings["epochs"]
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, s / 100) * max(0.02, 1 - s / steps))
    started, step = time.time(), 0
    for epoch in range(settings["epochs"]):
        rng.shuffle(batches)
        head.train()
        total = 0.0
        for batch in batches:
            inputs = tensors([rows[i] for i in batch], [cosines[i] for i in batch], reduced, offsets)
            logits = head(*inputs)
            target = torch.tensor([float(rows[i]["label"]) for i in batch])
            w = torch.tensor([weights[i] for i in batch])
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none") * w).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
            step += 1
            if step % 50 == 0:
                print(f"    step {step}/{steps} ({time.time() - started:.0f}s)", flush=True)
        print(f"  epoch {epoch + 1}: loss {total / len(batches):.4f} ({time.time() - started:.0f}s)", flush=True)
    head.eval()
    exported = head.export(data["mean"], data["axes"])
    within = [i for i in order if offsets[rows[i]["ci"] + 1] - offsets[rows[i]["ci"]] <= settings["claim_tokens"]
              and offsets[rows[i]["pi"] + 1] - offsets[rows[i]["pi"]] <= settings["passage_tokens"]]
    picked = within[:: max(1, len(within) // 8)]
    check_parity(head, exported, [rows[i] for i in picked], [cosines[i] for i in picked], data)
    return exported


def check_parity(head, weights: dict[str, np.ndarray], sample: list[dict], cosines: list, data: dict) -> None:
    """The numpy head the judge runs, on raw token vectors, gives the torch head's probabilities."""
    import torch

    from ragmeter.metrics.judges.embedded.entailment import EntailmentHead

    states, offsets = data["states"], data["offsets"]
    numpy_head = EntailmentHead.from_arrays(weights)
    with torch.no_grad():
        expected = torch.sigmoid(head(*tensors(sample, cosines, data["reduced"], offsets))).numpy()
    got = [numpy_head.probability(np.asarray(states[offsets[r["ci"]]:offsets[r["ci"] + 1]], dtype=np.float32),
                                  np.asarray(states[offsets[r["pi"]]:offsets[r["pi"] + 1]], dtype=np.float32),
                                  np.asarray(r["feats"], dtype=np.float32)) for r in sample]
    if not np.allclose(expected, got, atol=1e-4):
        raise AssertionError(f"numpy head differs from torch: {expected} vs {got}")


def example_weights(rows: list[dict], cap: int) -> list[float]:
    """Each source weighs at most `cap` examples, half per class, so no one source or class dominates."""
    counts: dict[tuple[str, int], int] = {}
    for r in rows:
        counts[(r["src"], r["label"])] = counts.get((r["src"], r["label"]), 0) + 1
    sizes = {s: sum(n for (src, _), n in counts.items() if src == s) for s, _ in counts}
    raw = [min(sizes[r["src"]], cap) / 2 / counts[(r["src"], r["label"])] for r in rows]
    scale = len(raw) / sum(raw)
    return [w * scale for w in raw]


def tensors(batch: list[dict], cosines: list[np.ndarray], reduced: np.ndarray, offsets: np.ndarray):
    import torch

    def padded(key: str):
        # Training reads at most the first claim_tokens / passage_tokens tokens (the cost is in the long tail);
        # the judge reads them all.
        cap = SETTINGS["claim_tokens" if key == "ci" else "passage_tokens"]
        parts = [reduced[offsets[r[key]]:min(offsets[r[key] + 1], offsets[r[key]] + cap)] for r in batch]
        width = max(1, max(len(p) for p in parts))
        x = np.zeros((len(parts), width, reduced.shape[1]), dtype=np.float32)
        mask = np.zeros((len(parts), width), dtype=bool)
        for i, p in enumerate(parts):
            x[i, :len(p)] = p
            mask[i, :len(p)] = True
        return torch.from_numpy(x), torch.from_numpy(mask)

    a, ma = padded("ci")
    b, mb = padded("pi")
    cosine = torch.zeros(ma.shape + (1,))
    for i, c in enumerate(cosines):
        c = np.asarray(c[:ma.shape[1]], dtype=np.float32)
        cosine[i, :len(c), 0] = torch.from_numpy(c)
    feats = torch.tensor([r["feats"] for r in batch], dtype=torch.float32)
    return a, ma, b, mb, cosine, feats


def Head(settings: dict):  # noqa: N802 - builds a torch module; torch is imported only when training
    import torch
    from torch import nn

    class _Head(nn.Module):
        """The network of entailment.EntailmentHead.probability, batched and masked."""

        def __init__(self):
            super().__init__()
            d, h, h2 = settings["dim"], settings["hidden"], settings["hidden2"]
            self.map = nn.Linear(d, d)  # on the fixed principal axes; starts as the identity
            with torch.no_grad():
                self.map.weight.copy_(torch.eye(d))
                self.map.bias.zero_()
            self.c1 = nn.Linear(4 * d + 1, h)
            self.c2 = nn.Linear(2 * h + len(FEATURES), h2)
            self.out = nn.Linear(h2, 1)
            self.drop = nn.Dropout(settings["dropout"])

        def forward(self, A, ma, B, mb, cosine, feats):  # noqa: N803
            a, b = self.map(A), self.map(B)
            scores = (a @ b.transpose(1, 2) / math.sqrt(a.shape[-1])).masked_fill(~mb[:, None, :], -1e4)
            aligned = torch.softmax(scores, dim=-1) @ b
            h = torch.relu(self.c1(self.drop(torch.cat([a, aligned, a - aligned, a * aligned, cosine], -1))))
            h = h * ma[..., None]
            pooled = torch.cat([h.max(1).values, h.sum(1) / ma.sum(1, keepdim=True), feats], -1)
            return self.out(torch.relu(self.c2(self.drop(pooled)))).squeeze(-1)

        def export(self, mean: np.ndarray, axes: np.ndarray) -> dict[str, np.ndarray]:
            """Weights for entailment.EntailmentHead, the principal axes folded into its projection."""
            def t(x):
                return x.detach().numpy().astype(np.float32)

            w = t(self.map.weight).T
            return {"proj": (axes @ w).astype(np.float32), "proj_b": ((-mean @ axes) @ w + t(self.map.bias)),
                    "w1": t(self.c1.weight).T, "b1": t(self.c1.bias), "w2": t(self.c2.weight).T,
                    "b2": t(self.c2.bias), "w3": t(self.out.weight).reshape(-1), "b3": t(self.out.bias).reshape(())}

    return _Head()


def save(weights: dict[str, np.ndarray], path: Path, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        arrays: dict[str, Any] = {**weights, "meta": np.array(json.dumps({**meta, "features": list(FEATURES)}))}
        np.savez_compressed(f, **arrays)


# ------------------------------------------------------------------ evaluation
THRESHOLDS = (0.2, 0.3, 0.4, 0.49, 0.725)
CUTOFFS = (0.4, 0.5, 0.6, 0.7)


def _unsupported_share(result, cutoff: float) -> float | None:
    claims = result.details.faithfulness.claims
    if not claims:
        return 0.0 if result.details.faithfulness.reason == "no_claims" else None
    return sum((c.probability or 0.0) < cutoff for c in claims) / len(claims)


async def score_source(name: str, head_path: Path | None, threshold: float | None = None,
                       weight: float = 1.0) -> dict:
    """The whole judge, with this head (None: the shipped judge), on one source's evaluation rows: the gate's
    balanced accuracy at each of THRESHOLDS (a contradicted claim fails at any), ROC AUC, the overlap rule."""
    from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
    from ragmeter.metrics.judges.embedded.support import SupportModel
    from ragmeter.metrics.sample import Sample
    from ragmeter.metrics.scoring import evaluate
    from ragmeter.service.analysis.accuracy import reports

    rows = source_by_name(name).rows
    if head_path is None:
        judge = EmbeddedJudge()
    else:
        from ragmeter.metrics.judges.embedded.entailment import EntailmentHead

        model = dataclasses.replace(SupportModel.load(), entailment_weight=weight)
        judge = EmbeddedJudge(model=model, entailment=EntailmentHead.load(head_path))
    results = await evaluate([Sample.model_validate(r) for r in rows], judge, ["faithfulness"], threshold=threshold)
    truth = [bool(r["label_hallucinated"]) for r in rows]
    scores = [reports.hallucination_score(res) for res in results]
    contradicted = [any(c.verdict == "contradicted" for c in res.details.faithfulness.claims) for res in results]
    gate = {str(t): round(reports.balanced_accuracy(truth, [s is None or s > t or c for s, c in
                                                             zip(scores, contradicted, strict=True)]), 4)
            for t in THRESHOLDS}
    # The same gate with other claim cut-offs, from the claims' probabilities: "cut-off/threshold" keys.
    for cutoff in CUTOFFS:
        shares = [_unsupported_share(res, cutoff) for res in results]
        for t in THRESHOLDS:
            flagged = [s is None or s > t or c for s, c in zip(shares, contradicted, strict=True)]
            gate[f"{cutoff}/{t}"] = round(reports.balanced_accuracy(truth, flagged), 4)
    counts = np.array([reports.missing(r) for r in rows])
    overlap = max(reports.balanced_accuracy(truth, list(counts[:, k] > cut)) for k in (0, 1)
                  for cut in np.unique(counts[:, k]))
    return {"rows": len(rows), "hallucinated": int(sum(truth)), "gate_by_threshold": gate,
            "balanced_accuracy": round(reports.balanced_accuracy(truth, [not r.gate.passed for r in results]), 4),
            "threshold": results[0].gate.threshold if results else threshold,
            "hallucination_auc": reports.scored_auc([reports.ranking_score(r) for r in results], truth),
            "lexical_rule_best_cutoff_balanced_accuracy": round(overlap, 4),
            "lexical_rule_auc": reports.scored_auc(list(counts[:, 1]), truth),
            "errors": sum(1 for r in results if r.errors)}


def source_by_name(name: str) -> fs.Source:
    if name.startswith("summedits_"):
        return fs.summedits(name.removeprefix("summedits_"))
    if name in EVAL_ONLY:
        return fs.evaluation_only(name)
    if name.startswith("halueval_"):
        return fs.halueval("qa" if name == "halueval_qa" else "summ")
    return next(s for s in fs.all_sources() if s.name == name)


def loso(resume: bool, threshold: float | None) -> None:
    results = json.loads(RESULTS.read_text()) if resume and RESULTS.exists() else {}
    results.setdefault("sources", {})
    results.update({"data_hash": data_hash(), "settings": SETTINGS})
    for name in (*LOSO, "all"):
        if name in results["sources"] and resume:
            continue
        started = time.time()
        skip = set() if name == "all" else {name, *RELATED.get(name, ())}
        print(f"== {name}: training without {sorted(skip) or 'nothing'}", flush=True)
        path = WORK / "loso" / f"{name}.npz"
        save(train(skip), path, {"held_out": sorted(skip)})
        targets = EVAL_ONLY if name == "all" else (name,)
        for target in targets:
            report = asyncio.run(score_source(target, path, threshold))
            report["train_s"] = round(time.time() - started)
            results["sources"][target] = report
            print(f"   {target}: {report}", flush=True)
        results["sources"].setdefault(name, {}) if name == "all" else None
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    results["threshold"] = choose_threshold(results)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print_table(results)


def choose_threshold(results: dict) -> str:
    """The claim cut-off and gate threshold ("cut-off/threshold"; threshold below 0.5, so one unsupported claim
    of two fails) that do best on average over the held-out sources, each scored by a head that never saw it."""
    candidates = [f"{c}/{t}" for c in CUTOFFS for t in THRESHOLDS if t < 0.5]
    held = [r["gate_by_threshold"] for name, r in results["sources"].items() if name in LOSO]
    return max(candidates, key=lambda k: float(np.mean([g[k] for g in held])))


def print_table(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = str(results.get("threshold", "0.6/0.4"))
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    table = Table(title=f"Embedded judge, leave-one-source-out (each row: a head trained without that source; "
                        f"QAGS and the suite: the head trained on all); claim cut-off/gate threshold {t}")
    for column in ("source", "rows", "gate bal. acc", "ROC AUC", "last round bal. acc / AUC",
                   "overlap best bal. acc", "overlap AUC"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, r in results["sources"].items():
        if "rows" in r:
            before = baseline.get(name)
            table.add_row(name, str(r["rows"]), f"{r['gate_by_threshold'][t]:.3f}", _f(r["hallucination_auc"]),
                          f"{before['balanced_accuracy']:.3f} / {_f(before['hallucination_auc'])}" if before else "-",
                          f"{r['lexical_rule_best_cutoff_balanced_accuracy']:.3f}", _f(r["lexical_rule_auc"]))
    Console(width=140).print(table)


def markdown_table(results: dict) -> str:
    """The same table for the README and docs/accuracy.md."""
    t = results["threshold"]
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    lines = [f"| source | rows | gate bal. acc. (cut-off/threshold {t}) | ROC AUC | last round: gate / AUC "
             "| overlap rule: best bal. acc. / AUC |", "|---|---|---|---|---|---|"]
    for name, r in results["sources"].items():
        if "rows" not in r:
            continue
        before = baseline.get(name)
        last = f"{before['balanced_accuracy']:.3f} / {_f(before['hallucination_auc'])}" if before else "-"
        overlap = f"{r['lexical_rule_best_cutoff_balanced_accuracy']:.3f} / {_f(r['lexical_rule_auc'])}"
        gate = r["gate_by_threshold"][t]
        auc = _f(r['hallucination_auc'])
        lines.append(f"| {name} | {r['rows']:,} | **{gate:.3f}** | **{auc}** | {last} | {overlap} |")
    return "\n".join(lines)


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def ship() -> None:
    """The head trained on every training source, and the gate threshold the LOSO run chose, into assets/."""
    from ragmeter.metrics.judges.embedded.support import WEIGHTS_FILE

    results = json.loads(RESULTS.read_text())
    if results.get("data_hash") != data_hash():
        raise SystemExit("the LOSO results were computed on other pairs: run `loso` again first")
    version = "e1-" + time.strftime("%Y-%m-%d")
    held = {k: v for k, v in results["sources"].items() if "rows" in v}
    # The LOSO run's last head is the one trained on every source, with the same settings and seed.
    trained = WORK / "loso" / "all.npz"
    if trained.exists():
        with np.load(trained, allow_pickle=False) as data:
            weights = {k: np.asarray(data[k]) for k in data.files if k != "meta"}
    else:
        weights = train(set())
    save(weights, ASSET, {"version": version, "data_hash": results["data_hash"], "settings": SETTINGS,
                               "script": "bench/train_entailment.py", "threshold": results["threshold"],
                               "leave_one_source_out": {k: {"gate": v["gate_by_threshold"][str(results["threshold"])],
                                                            "auc": v["hallucination_auc"]} for k, v in held.items()}})
    weights = json.loads(WEIGHTS_FILE.read_text())
    cutoff, threshold = (float(x) for x in results["threshold"].split("/"))
    weights.update({"entailment_weight": 1.0, "claim_cutoff": cutoff, "threshold": threshold})
    WEIGHTS_FILE.write_text(json.dumps(weights) + "\n")
    print(f"wrote {ASSET} ({version}) and set the threshold {results['threshold']} in {WEIGHTS_FILE.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("step", choices=["pairs", "loso", "ship", "table", "one", "baseline", "score"])
    parser.add_argument("--head", type=Path, default=None, help="score: the head's .npz (default: the shipped judge)")
    parser.add_argument("--sources", nargs="*", default=[], help="score: the sources to score")
    parser.add_argument("--weight", type=float, default=1.0,
                        help="score: the head's weight against the features' probability, in log-odds")
    parser.add_argument("--resume", action="store_true", help="loso: keep sources already in the results file")
    parser.add_argument("--threshold", type=float, default=None, help="gate threshold (default: the judge's)")
    parser.add_argument("--source", help="one: train without this source and score it")
    parser.add_argument("--markdown", action="store_true", help="table: print it as a markdown table")
    args = parser.parse_args()
    if args.step == "pairs":
        build_pairs()
    elif args.step == "loso":
        loso(args.resume, args.threshold)
    elif args.step == "one":
        path = WORK / "loso" / f"{args.source}.npz"
        save(train({args.source, *RELATED.get(args.source, ())}), path, {"held_out": [args.source]})
        print(asyncio.run(score_source(args.source, path, args.threshold)))
    elif args.step == "score":
        for name in args.sources:
            print(name, json.dumps(asyncio.run(score_source(name, args.head, args.threshold, args.weight))), flush=True)
    elif args.step == "baseline":
        # The judge as installed, no head: run from a checkout of the last round to get its figures.
        out = json.loads(BASELINE.read_text()) if args.resume and BASELINE.exists() else {}
        BASELINE.parent.mkdir(parents=True, exist_ok=True)
        for name in (*LOSO, *EVAL_ONLY):
            if name not in out:
                out[name] = asyncio.run(score_source(name, None))
                print(name, out[name], flush=True)
                BASELINE.write_text(json.dumps(out, indent=1) + "\n")
    elif args.step == "ship":
        ship()
    elif args.markdown:
        print(markdown_table(json.loads(RESULTS.read_text())))
    else:
        print_table(json.loads(RESULTS.read_text()))


if __name__ == "__main__":
    main()
