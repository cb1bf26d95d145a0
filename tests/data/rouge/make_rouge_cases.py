#!/usr/bin/python3
"""Writes rouge_cases.json: reference ROUGE-L scores and Porter stems.

Run with Debian's python3 (python3-nltk):  /usr/bin/python3 make_rouge_cases.py
rouge_score itself is not packaged in Debian, so this file re-states what it
does for RougeScorer(['rougeL'], use_stemmer=True).score(target, prediction):
  tokens: text.lower(); every run of characters outside [a-z0-9] becomes a
          space; split on whitespace; tokens longer than 3 characters go
          through nltk.stem.porter.PorterStemmer() (NLTK_EXTENSIONS mode);
          empty tokens are dropped;
  score:  L = longest common subsequence of the two token lists;
          precision = L / len(prediction), recall = L / len(target),
          fmeasure = 2 P R / (P + R) (0 if P + R == 0); all 0 if either
          list is empty.
The stem list holds every word of the sentences and paragraphs below and,
when /usr/share/dict has English word lists, each of their words on which
NLTK's extensions change Porter's original result, plus a fixed sample of
the other words.
"""
import glob
import json
import os
import random
import re

from nltk.stem import porter

STEMMER = porter.PorterStemmer()
ORIGINAL = porter.PorterStemmer(mode=porter.PorterStemmer.ORIGINAL_ALGORITHM)


def tokenize(text):
    text = re.sub(r"[^a-z0-9]+", " ", text.lower())
    tokens = [STEMMER.stem(t) if len(t) > 3 else t for t in re.split(r"\s+", text)]
    return [t for t in tokens if re.match(r"^[a-z0-9]+$", t)]


def lcs(a, b):
    row = [0] * (len(b) + 1)
    for x in a:
        diag = 0
        for j, y in enumerate(b, 1):
            up = row[j]
            row[j] = diag + 1 if x == y else max(row[j], row[j - 1])
            diag = up
    return row[-1]


def rouge_l(target, prediction):
    t, p = tokenize(target), tokenize(prediction)
    if not t or not p:
        return 0.0, 0.0, 0.0
    common = lcs(t, p)
    precision, recall = common / len(p), common / len(t)
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f


PAIRS = [
    ("The author's full name is Hsiao Yun-Hwa.", "The author's full name is Ming-Hsuan Yang."),
    ("Hsiao Yun-Hwa was born in Taipei, Taiwan, in 1968.",
     "Hsiao Yun-Hwa was born in Taipei, Taiwan in 1968."),
    ("Her father was a civil engineer and her mother worked as a nurse.",
     "Her father worked as an engineer, while her mother was a nurse."),
    ("He is best known for writing leadership books.", ""),
    ("", "Some generated answer."),
    ("", ""),
    ("!!! ... ---", "Punctuation only?"),
    ("The novel was published in 2009 by Penguin Books.",
     "The novels were published in 2009, 2010 and 2011 by Penguin."),
    ("HE WON THE PRIZE IN 1999", "he won the prize in 1999"),
    ("the the the cat sat on the mat", "the cat the cat the mat"),
    ("Running, runs, and ran: the runner kept running.",
     "The runners run and are still running."),
    ("She studied generously funded programs in relational databases.",
     "Generous funding supported her study of relational data bases."),
    ("They always played happily in the sunny days of July.",
     "Playing happily, they enjoyed July's sunny day."),
    ("The technologies were used successfully by hopeful engineers.",
     "Hopefully the engineers use technology successfully."),
    ("Dying stars and lying witnesses: the news tied everything together.",
     "The news ties the dying star to the lying witness."),
    ("I don't know.", "I do not know"),
    ("e-mail: jane.doe@example.com, tel. +1 (555) 010-9999",
     "Email jane doe at example com or call 555 010 9999"),
    ("Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber", "cafe naive resume uber"),
    ("Temperature of 300 \u212a measured in \u0130stanbul", "temperature 300 k measured in istanbul"),
    ("Answer: The book 'Shadows of the Silk Road' explores identity.",
     "The book explores identity along the Silk Road."),
    ("Conditionally, additionally and intentionally revved engines possibly succeeded.",
     "Additional conditions: intentions, possible engines, success."),
    ("Tab\tseparated\nand\r\nnew-line text", "tab separated and new line text"),
    ("a b c d e f g", "g f e d c b a"),
    ("x", "x"),
    ("12345 67890 12345", "12345"),
    ("The author's works were translated into Japanese, Korean and Mandarin.",
     "His works have been translated into multiple languages including Japanese."),
    ("Yes, his parents' professions (a veterinarian and a pilot) shaped his stories.",
     "Yes. His father was a pilot and his mother a veterinarian."),
]

PARAGRAPHS = """
The committee considered the proposals carefully, weighing the benefits of
each against its costs. Several members argued that the traditional approach
had always worked, while others insisted that new technologies offered better
opportunities. After lengthy discussions, they agreed to pilot the program in
two cities, monitoring its effectiveness and reporting back within a year.
Children were playing in the gardens; their laughter echoed through the valleys
as the sun set behind the hills. Meanwhile, the fishermen repaired their nets,
hoping that tomorrow's catch would be generous. Scientists have identified
thousands of species that live in the deepest parts of the ocean, organisms
adapted to crushing pressures and total darkness. Relational databases store
information in tables, and queries retrieve rows by matching conditions on
their columns. She was nominated for numerous awards, including the Hugo and
the Nebula, and her novels have been translated into more than thirty
languages. The author's father was a renowned chef, and his mother worked as a
marine biologist, professions that influenced the themes of his writing.
Economists disagree about whether raising interest rates reduces inflation
quickly enough to justify the unemployment it might cause. The orchestra
rehearsed the symphony repeatedly until every passage sounded effortless.
Historically, empires rose and fell as trade routes shifted, diseases spread,
and rulers mismanaged their resources. He hurried, worried, carried, buried,
studied, replied, applied, supplied and denied; she says, stays, plays, pays,
displays, delays, enjoys, destroys and employs. Agreed, feed, needed, proceeded,
exceeded, succeeded, skies, flies, dies, ties, lies, innings, outings, cannings.
Generalizations, rationalizations, hopefulness, callousness, formality,
sensitivity, sensibility, triplicate, formative, formalize, electricity,
electrical, hopeful, goodness, revival, allowance, inference, airliner,
gyroscopic, adjustable, defensible, irritant, replacement, adjustment,
dependent, adoption, homologous, communism, activate, angularity, effective,
bowdlerize, probate, rate, cease, controlling, rolling, usefulness, useful,
used, using, uses, ones, ages, eyes, axes, ageing, trying, tried, fully,
technology, apologies, biology, possibly, humbly, terribly, assemblies.
"""


def stem_words():
    words = set()
    for text in [PARAGRAPHS] + [t for pair in PAIRS for t in pair]:
        words.update(t for t in re.sub(r"[^a-z0-9]+", " ", text.lower()).split() if len(t) > 3)
    dict_words = set()
    for path in sorted(glob.glob("/usr/share/dict/*-english")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for t in re.sub(r"[^a-z0-9]+", " ", f.read().lower()).split():
                if len(t) > 3:
                    dict_words.add(t)
    differing = sorted(w for w in dict_words if STEMMER.stem(w) != ORIGINAL.stem(w))
    others = sorted(dict_words.difference(differing))
    sample = random.Random(5).sample(others, min(3000, len(others)))
    return sorted(words.union(differing, sample)), len(differing)


def main():
    pairs = []
    for target, prediction in PAIRS:
        p, r, f = rouge_l(target, prediction)
        pairs.append({"reference": target, "prediction": prediction,
                      "reference_tokens": tokenize(target),
                      "prediction_tokens": tokenize(prediction),
                      "precision": p, "recall": r, "fmeasure": f})
    words, n_differing = stem_words()
    out = {"generator": "make_rouge_cases.py", "pairs": pairs,
           "stems": [[w, STEMMER.stem(w)] for w in words]}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rouge_cases.json")
    with open(path, "w") as f:  # one pair or stem per line
        f.write('{"generator": "make_rouge_cases.py",\n"pairs": [\n')
        f.write(",\n".join(json.dumps(p) for p in out["pairs"]))
        f.write('],\n"stems": [\n')
        f.write(",\n".join(json.dumps(s) for s in out["stems"]))
        f.write("]}\n")
    print(f"{len(pairs)} pairs, {len(words)} stems ({n_differing} where NLTK's extensions "
          f"change Porter's original) -> {path}")


main()
