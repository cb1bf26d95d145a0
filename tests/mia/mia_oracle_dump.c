/* mia_oracle_dump — random inputs for the metrics of metrics/mia.h and
 * metrics/memorization.h, and what lethe computes from them, written to
 * one JSON file (argv[1]) for mia_oracle.py to recompute with sklearn,
 * zlib and NumPy. The inputs come from this file's own generator
 * (splitmix64), not from lethe; this program only writes lethe's answers
 * next to them and checks nothing itself. Scores are written as jansson
 * does, with 17 significant digits, so Python reads the exact doubles. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/memorization.h"
#include "metrics/mia.h"

static uint64_t rng_state = 0x6d69615f6f72616cULL;

static uint64_t next_u64(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static double uniform(void) { return (double)(next_u64() >> 11) * 0x1p-53; } /* [0, 1) */
static size_t below(size_t n) { return (size_t)(next_u64() % n); }
static double normal(void) { /* Box–Muller */
  return sqrt(-2 * log(1 - uniform())) * cos(2 * M_PI * uniform());
}

static void die(const char *what, const lethe_err *err) {
  fprintf(stderr, "mia_oracle_dump: %s: %s\n", what, err->msg);
  exit(1);
}

static json_t *doubles(const double *x, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_real(x[i]));
  return a;
}
static json_t *floats(const float *x, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_real((double)x[i]));
  return a;
}
static json_t *ids(const int32_t *x, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(x[i]));
  return a;
}

/* One score of kind 0..4: few integers (many ties), continuous, eighths of
 * a normal, one constant, or two separated bands (shifted for one side). */
static double score_of_kind(int kind, int side, int levels) {
  switch (kind) {
  case 0: return (double)below((size_t)levels) + side;
  case 1: return uniform() * 3 + 0.4 * side;
  case 2: return round((normal() + 0.5 * side) * 8) / 8;
  case 3: return 2.5;
  default: return side ? 10 + uniform() : uniform();
  }
}

static json_t *auc_case(size_t n_a, size_t n_b, int kind) {
  double *a = malloc(n_a * sizeof *a), *b = malloc(n_b * sizeof *b);
  const int levels = 2 + (int)below(5);
  for (size_t i = 0; i < n_a; i++) a[i] = score_of_kind(kind, 1, levels);
  for (size_t i = 0; i < n_b; i++) b[i] = score_of_kind(kind, 0, levels);
  double roc, mia;
  lethe_err err = {0};
  if (mia_roc_auc(a, n_a, b, n_b, &roc, &err)) die("mia_roc_auc", &err);
  if (mia_auc(a, n_a, b, n_b, &mia, &err)) die("mia_auc", &err);
  json_t *c = json_pack("{s:o, s:o, s:f, s:f}", "a", doubles(a, n_a), "b", doubles(b, n_b),
                        "roc_auc", roc, "mia_auc", mia);
  free(a);
  free(b);
  return c;
}

static const char *const WORDS[] = {"the", "author", "wrote", "novel", "in", "Zoë", "naïve",
                                    "東京", "Ω", "prize", "1987", "and", "her", "father",
                                    "was", "a", "baker", ",", ".", "\n"};

/* Random text of up to 60 words, empty now and then, and long (up to 2000
 * words, where zlib's levels give different lengths) now and then; words
 * repeat, so zlib has something to find. */
static char *random_text(void) {
  const size_t kind = below(8);
  size_t words = kind == 0 ? 0 : kind == 1 ? below(2000) : below(60), cap = 1, len = 0;
  char *text = malloc(cap);
  for (size_t w = 0; w < words; w++) {
    const char *word = WORDS[below(sizeof WORDS / sizeof *WORDS)];
    size_t wl = strlen(word);
    text = realloc(text, cap += wl + 1);
    memcpy(text + len, word, wl);
    len += wl;
    text[len++] = ' ';
  }
  text[len] = '\0';
  return text;
}

/* The five attacks, in the order of ATTACKS. */
enum { N_ATTACKS = 5 };
static const char *const ATTACKS[N_ATTACKS] = {"loss", "zlib", "min_k", "min_k_plus_plus",
                                               "reference"};

/* One example's per-token arrays and lethe's five scores of it (also left
 * in scores[]); members (member = 1) are given higher log-probs, so the
 * attacks tell the two sets apart, imperfectly. */
static json_t *example_case(int member, double scores[N_ATTACKS]) {
  static const double KS[] = {0.1, 0.2, 0.29, 0.4, 0.5, 0.57, 1.0};
  /* 100, 200 or 300 tokens now and then: where n * 0.29 and n * 0.57 fall
   * just below an integer in floating point */
  const size_t n = below(10) == 0 ? 100 * (1 + below(3)) : 1 + below(80);
  const double k = KS[below(sizeof KS / sizeof *KS)];
  const int quantised = below(3) == 0; /* ties among the tokens */
  float *logp = malloc(n * sizeof *logp), *ref_logp = malloc(n * sizeof *ref_logp);
  double *mu = malloc(n * sizeof *mu), *var = malloc(n * sizeof *var);
  for (size_t t = 0; t < n; t++) {
    double u = uniform();
    double lp = -12 * u * u * (member ? 0.6 : 1.0);
    logp[t] = (float)(quantised ? round(lp * 4) / 4 : lp);
    ref_logp[t] = (float)(-12 * uniform() * uniform());
    mu[t] = -6 * uniform() - 0.05;
    var[t] = below(10) == 0 ? 1e-8 * uniform() : 5 * uniform();
  }
  char *text = random_text();
  size_t zlib_len;
  lethe_err err = {0};
  if (mia_loss_score(logp, n, &scores[0], &err) ||
      mia_zlib_length(text, strlen(text), &zlib_len, &err) ||
      mia_zlib_score(logp, n, text, strlen(text), &scores[1], &err) ||
      mia_min_k_score(logp, n, k, &scores[2], &err) ||
      mia_min_k_plus_plus_score(logp, mu, var, n, k, &scores[3], &err) ||
      mia_reference_score(logp, ref_logp, n, &scores[4], &err))
    die("example", &err);
  json_t *c = json_pack("{s:i, s:o, s:o, s:o, s:o, s:s, s:f, s:I, s:I}", "member", member,
                        "logp", floats(logp, n), "ref_logp", floats(ref_logp, n), "mu",
                        doubles(mu, n), "var", doubles(var, n), "text", text, "k", k,
                        "min_k_count", (json_int_t)mia_min_k_count(n, k), "zlib_length",
                        (json_int_t)zlib_len);
  for (int a = 0; a < N_ATTACKS; a++) json_object_set_new(c, ATTACKS[a], json_real(scores[a]));
  free(logp);
  free(ref_logp);
  free(mu);
  free(var);
  free(text);
  return c;
}

/* n_examples examples, the first half members; and, per attack, lethe's
 * mia_auc of the members' scores against the non-members'. */
static json_t *examples_and_aucs(size_t n_examples, json_t **attack_auc) {
  const size_t n_members = n_examples / 2;
  double *scores = malloc(N_ATTACKS * n_examples * sizeof *scores); /* (N_ATTACKS, n_examples) */
  json_t *examples = json_array();
  for (size_t e = 0; e < n_examples; e++) {
    double one[N_ATTACKS];
    json_array_append_new(examples, example_case(e < n_members, one));
    for (int a = 0; a < N_ATTACKS; a++) scores[a * n_examples + e] = one[a];
  }
  *attack_auc = json_object();
  for (int a = 0; a < N_ATTACKS; a++) {
    const double *s = scores + a * n_examples;
    double auc;
    lethe_err err = {0};
    if (mia_auc(s, n_members, s + n_members, n_examples - n_members, &auc, &err))
      die("mia_auc of an attack", &err);
    json_object_set_new(*attack_auc, ATTACKS[a], json_real(auc));
  }
  free(scores);
  return examples;
}

static json_t *moments_case(size_t vocab, double spread) {
  float *logits = malloc(vocab * sizeof *logits);
  for (size_t v = 0; v < vocab; v++) logits[v] = (float)(spread * normal() + 3);
  double mu, var;
  mia_next_token_moments(logits, vocab, &mu, &var);
  json_t *c = json_pack("{s:o, s:f, s:f}", "logits", floats(logits, vocab), "mu", mu, "var", var);
  free(logits);
  return c;
}

/* Labels and teacher-forced predictions: right except, with probability
 * `noise`, in a leading stretch, and sometimes at the last token. */
static json_t *memorization_case(void) {
  const size_t n = below(12) == 0 ? 0 : 1 + below(40);
  int32_t *label = malloc((n ? n : 1) * sizeof *label), *pred = malloc((n ? n : 1) * sizeof *pred);
  const size_t noisy = below(n + 1);
  const double noise = uniform();
  for (size_t t = 0; t < n; t++) {
    label[t] = (int32_t)below(50);
    pred[t] = t < noisy && uniform() < noise ? (int32_t)((label[t] + 1 + below(49)) % 50) : label[t];
  }
  if (n && below(5) == 0) pred[n - 1] = (label[n - 1] + 1) % 50;
  double em;
  lethe_err err = {0};
  json_t *em_value = memorization_exact(pred, label, n, &em, &err) ? json_null() : json_real(em);
  json_t *c = json_pack("{s:o, s:o, s:o, s:f}", "pred", ids(pred, n), "label", ids(label, n), "em",
                        em_value, "es", memorization_extraction_strength(pred, label, n));
  free(label);
  free(pred);
  return c;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: mia_oracle_dump OUT.json\n");
    return 2;
  }
  json_t *auc = json_array();
  for (int c = 0; c < 300; c++)
    json_array_append_new(auc, auc_case(1 + below(c < 100 ? 5 : 200), 1 + below(200), c % 5));
  json_array_append_new(auc, auc_case(3000, 4000, 0)); /* many ties */
  json_array_append_new(auc, auc_case(2500, 3500, 1));
  json_t *attack_auc;
  json_t *examples = examples_and_aucs(400, &attack_auc);
  json_t *moments = json_array();
  static const size_t VOCABS[] = {1, 2, 3, 17, 256, 1000, 4096, 32000};
  static const double SPREADS[] = {0.01, 1, 5, 30};
  for (size_t v = 0; v < sizeof VOCABS / sizeof *VOCABS; v++)
    for (size_t s = 0; s < sizeof SPREADS / sizeof *SPREADS; s++)
      json_array_append_new(moments, moments_case(VOCABS[v], SPREADS[s]));
  json_t *memorization = json_array();
  for (int c = 0; c < 300; c++) json_array_append_new(memorization, memorization_case());
  json_t *privleak = json_array();
  for (int c = 0; c < 200; c++) {
    double unlearned = c == 0 ? 1.0 : uniform(), retain = uniform(), leak;
    lethe_err err = {0};
    if (mia_privleak(unlearned, retain, &leak, &err)) die("mia_privleak", &err);
    json_array_append_new(privleak, json_pack("{s:f, s:f, s:f}", "auc_unlearned", unlearned,
                                              "auc_retain", retain, "privleak", leak));
  }
  json_t *root = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "auc", auc, "examples", examples,
                           "attack_auc", attack_auc, "moments", moments, "memorization",
                           memorization, "privleak", privleak);
  if (json_dump_file(root, argv[1], JSON_COMPACT)) {
    fprintf(stderr, "mia_oracle_dump: cannot write %s\n", argv[1]);
    return 1;
  }
  json_decref(root);
  return 0;
}
