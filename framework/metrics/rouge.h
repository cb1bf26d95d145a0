/* rouge — ROUGE-L of a generated answer against its reference, computed as
 * Google's rouge_score package does with RougeScorer(['rougeL'],
 * use_stemmer=True), which is what TOFU reports (it keeps the recall).
 *
 * Tokens: the text lower-cased, every character other than [a-z0-9] made a
 * separator, words longer than 3 characters Porter-stemmed. rouge_score
 * stems with NLTK's PorterStemmer (NLTK_EXTENSIONS mode); lethe stems with
 * Snowball's "porter" (Debian's libstemmer) and corrects, in a few small
 * documented rules (rouge.c, docs/metrics.md), the places where NLTK's
 * extensions make it differ, so the tokens agree with NLTK's on every word
 * of a 529 000-word list.
 *
 * A rouge_scorer owns the Snowball stemmer and reusable token buffers. It is
 * NOT thread-safe: use one scorer per thread (creating one is cheap). Not
 * here: generation, or ROUGE-1/2 (TOFU only reports ROUGE-L recall). */
#ifndef LETHE_EVAL_ROUGE_H
#define LETHE_EVAL_ROUGE_H

#include <stddef.h>

#include "core/core.h"

typedef struct rouge_scorer rouge_scorer;

/* rouge_score's Score for ROUGE-L: with L = length of the longest common
 * subsequence of the token lists, precision = L / |prediction|,
 * recall = L / |reference|, fmeasure = 2 P R / (P + R) (0 when P + R = 0).
 * All three are 0 when either token list is empty. */
typedef struct rouge_score {
  double precision;
  double recall;
  double fmeasure;
} rouge_score;

/* Creates a scorer; NULL (err filled) if the Snowball stemmer cannot be
 * opened. Free with rouge_scorer_free (NULL is accepted). */
rouge_scorer *rouge_scorer_new(lethe_err *err);
void rouge_scorer_free(rouge_scorer *s);
/* Stemming on (1, the default: TOFU, open-unlearning) or off (0: MUSE's
 * RougeScorer(..., use_stemmer=False)); tokens are otherwise the same. */
void rouge_scorer_set_stemming(rouge_scorer *s, int stem);

/* ROUGE-L of prediction (a generated answer) against reference (the ground
 * truth), both NUL-terminated UTF-8; argument order as rouge_score's
 * score(target, prediction). Returns 0, or -1 if the stemmer runs out of
 * memory. */
int rouge_l(rouge_scorer *s, const char *reference, const char *prediction,
            rouge_score *out, lethe_err *err);

/* Tokenises text exactly as rouge_l does and stores the tokens in s; *n
 * receives their number. Token i is then rouge_token(s, i): NUL-terminated,
 * owned by s, valid until the next rouge_tokenize or rouge_l call on s. */
int rouge_tokenize(rouge_scorer *s, const char *text, size_t *n, lethe_err *err);
const char *rouge_token(const rouge_scorer *s, size_t i);

/* Stems one lower-case [a-z0-9] word of len bytes as NLTK's PorterStemmer
 * would. *out points into s (not NUL-terminated, *out_len bytes), valid
 * until the next call on s. Returns 0, or -1 on out-of-memory. */
int rouge_stem(rouge_scorer *s, const char *word, size_t len, const char **out,
               size_t *out_len, lethe_err *err);

#endif
