/* rouge — ROUGE-L as rouge_score computes it (see rouge.h).
 *
 * Stemming: Snowball's "porter" is Porter's original 1980 algorithm; NLTK's
 * PorterStemmer (the one rouge_score uses) adds extensions. On the 529 329
 * distinct words of /usr/share/dict/{american,british}-english, Debian's
 * documentation and the Python standard library, the two differ on 3 949
 * words, many of them common ("used", "using", "they", "always", "days",
 * "keys", "news", "successfully", "technology", "possibly"). The rules below
 * bring Snowball's output to NLTK's; with them the two agree on all of those
 * words. Each rule names the NLTK extension it mirrors:
 *   1. irregular forms: a fixed table ("dying" -> "die", "news", "skies" ...);
 *   2. step 1a/1b: four-letter "Xies"/"Xied" -> "Xie" ("dies", "tied");
 *   3. step 2: NLTK adds "fulli" -> "ful", "logi" -> "log", uses "bli" ->
 *      "ble" instead of "abli" -> "able", and re-runs step 2 after "alli" ->
 *      "al" (so "-tionalli" reaches "-tion"). Step 2 sees the word after the
 *      plural and y rules, so such words are rewritten to the form NLTK has
 *      after its step 2 ("successfully" -> "successful") and Snowball, which
 *      finds nothing more to do in step 2, carries on from step 3 as NLTK;
 *   4. step 1c: NLTK turns a final y into i only after a consonant, Snowball
 *      whenever the stem has a vowel ("days": NLTK "day", Snowball "dai";
 *      "trying": NLTK "tri", Snowball "try"); the final letter is put back;
 *   5. the *o condition: NLTK also accepts a two-letter vowel-consonant stem,
 *      so "use", "one", "age" keep their e ("used", "uses", "useful");
 *   6. step 1b undoubling: Snowball undoubles only b d f g m n p r t, Porter
 *      (and NLTK) any consonant but l s z ("revved" -> "rev").
 * What still differs is limited to non-words such as "copyying" or
 * "biologyed" (a y-ending stem followed by -ed/-ing): see docs/metrics.md. */
#include "metrics/rouge.h"

#include <libstemmer.h>
#include <stdlib.h>
#include <string.h>

typedef struct token_list {
  char *chars;      /* tokens, each followed by '\0' */
  size_t chars_len, chars_cap;
  size_t *offset;   /* start of token i in chars */
  size_t n, cap;
} token_list;

struct rouge_scorer {
  struct sb_stemmer *stemmer;
  token_list lists[2]; /* reference, prediction */
  char *word;          /* scratch: the word handed to Snowball */
  size_t word_cap;
  char *stem;          /* the last stem */
  size_t stem_cap;
  int *lcs_row;        /* LCS dynamic-programming row */
  size_t lcs_cap;
  int no_stem;         /* rouge_scorer_set_stemming(s, 0) */
};

rouge_scorer *rouge_scorer_new(lethe_err *err) {
  struct sb_stemmer *stemmer = sb_stemmer_new("porter", NULL);
  if (!stemmer) {
    lethe_errf(err, LETHE_E_NOMEM, "rouge: cannot open the Snowball \"porter\" stemmer");
    return NULL;
  }
  rouge_scorer *s = lethe_calloc(1, sizeof *s);
  s->stemmer = stemmer;
  return s;
}

void rouge_scorer_set_stemming(rouge_scorer *s, int stem) { s->no_stem = !stem; }

void rouge_scorer_free(rouge_scorer *s) {
  if (!s) return;
  sb_stemmer_delete(s->stemmer);
  for (int i = 0; i < 2; i++) {
    free(s->lists[i].chars);
    free(s->lists[i].offset);
  }
  free(s->word);
  free(s->stem);
  free(s->lcs_row);
  free(s);
}

/* ---- stemming --------------------------------------------------------- */

/* Porter's consonant: not a e i o u, and y only after a vowel or first. */
static int is_consonant(const char *w, size_t i) {
  switch (w[i]) {
  case 'a': case 'e': case 'i': case 'o': case 'u': return 0;
  case 'y': return i == 0 ? 1 : !is_consonant(w, i - 1);
  default: return 1;
  }
}

/* Porter's measure m of w[0..n): the number of vowel-consonant transitions. */
static int measure(const char *w, size_t n) {
  int m = 0;
  for (size_t i = 1; i < n; i++) m += !is_consonant(w, i - 1) && is_consonant(w, i);
  return m;
}

static int ends_with(const char *w, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(w + n - k, suffix, k) == 0;
}

static void ensure_cap(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return;
  *cap = need * 2;
  *buf = lethe_realloc(*buf, *cap);
}

static void set_stem(rouge_scorer *s, const char *text, size_t len) {
  ensure_cap(&s->stem, &s->stem_cap, len + 2); /* room for rule 5's 'e' */
  memcpy(s->stem, text, len);
}

/* Rule 1: NLTK's irregular forms. */
static const char *irregular_form(const char *w, size_t n) {
  static const char *const table[][2] = {
      {"skies", "sky"},      {"sky", "sky"},          {"dying", "die"},
      {"lying", "lie"},      {"tying", "tie"},        {"news", "news"},
      {"innings", "inning"}, {"inning", "inning"},    {"outings", "outing"},
      {"outing", "outing"},  {"cannings", "canning"}, {"canning", "canning"},
      {"howe", "howe"},      {"proceed", "proceed"},  {"exceed", "exceed"},
      {"succeed", "succeed"}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strlen(table[i][0]) == n && memcmp(table[i][0], w, n) == 0) return table[i][1];
  return NULL;
}

/* Rule 3: the word as NLTK's step 2 sees it (after the plural of step 1a
 * and the y -> i of step 1c); if it ends in one of NLTK's own step-2
 * suffixes and the condition holds, the rewritten word goes to Snowball.
 * Returns the length written into s->word. */
static size_t step2_rewrite(rouge_scorer *s, const char *w, size_t n) {
  ensure_cap(&s->word, &s->word_cap, n + 4);
  char *b = s->word;
  memcpy(b, w, n);
  size_t len = n;
  if (ends_with(b, len, "sses")) len -= 2;
  else if (ends_with(b, len, "ies")) len -= 2;
  else if (ends_with(b, len, "s") && !ends_with(b, len, "ss")) len -= 1;
  if (len >= 3 && b[len - 1] == 'y' && is_consonant(b, len - 2)) b[len - 1] = 'i';
  static const struct { const char *suffix, *replacement; int keep_l; } rules[] = {
      {"tionalli", "tional", 0}, /* "alli" -> "al", then "tional" again */
      {"fulli", "ful", 0},
      {"logi", "log", 1},        /* the condition is on the stem with its l */
      {"bli", "ble", 0}};
  for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
    if (!ends_with(b, len, rules[r].suffix)) continue;
    size_t stem_len = len - strlen(rules[r].suffix);
    if (measure(b, stem_len + (size_t)rules[r].keep_l) == 0) break;
    size_t rep = strlen(rules[r].replacement);
    memcpy(b + stem_len, rules[r].replacement, rep);
    return stem_len + rep;
  }
  memcpy(b, w, n); /* no rewrite: the word itself */
  return n;
}

/* Rules 4-6 on Snowball's output o (in s->stem, *len bytes) for word w. */
static void nltk_corrections(rouge_scorer *s, const char *w, size_t n, size_t *len) {
  char *o = s->stem;
  size_t k = *len;
  /* 4a: NLTK keeps a final y after a vowel. */
  if (k >= 2 && o[k - 1] == 'i' && !is_consonant(o, k - 2) && n >= k &&
      memcmp(w, o, k - 1) == 0 && w[k - 1] == 'y') {
    o[k - 1] = 'y';
  } else if (k >= 3 && o[k - 1] == 'y') {
    /* 4b: NLTK turns y after a consonant into i even when the stem has no
     * vowel, where Snowball keeps it ("try", "fly"). */
    int vowel = 0;
    for (size_t i = 0; i + 1 < k; i++) vowel |= !is_consonant(o, i);
    if (!vowel) o[k - 1] = 'i';
  }
  /* 5: a two-letter vowel-consonant stem keeps (or regains) its e. */
  if (k == 2 && !is_consonant(o, 0) && is_consonant(o, 1) &&
      ((n >= 3 && memcmp(w, o, 2) == 0 && w[2] == 'e') ||
       (n == 5 && memcmp(w + 2, "ing", 3) == 0 && memcmp(w, o, 2) == 0) ||
       (n == 6 && memcmp(w + 2, "ings", 4) == 0 && memcmp(w, o, 2) == 0))) {
    o[2] = 'e';
    *len = 3;
    return;
  }
  /* 6: undouble the consonants Snowball leaves doubled after -ed/-ing. */
  if (k >= 2 && o[k - 1] == o[k - 2] && strchr("chjkqvwx0123456789", o[k - 1]) &&
      n > k && memcmp(w, o, k) == 0 &&
      ((n - k == 2 && memcmp(w + k, "ed", 2) == 0) ||
       (n - k == 3 && memcmp(w + k, "ing", 3) == 0) ||
       (n - k == 4 && memcmp(w + k, "ings", 4) == 0)))
    *len = k - 1;
}

int rouge_stem(rouge_scorer *s, const char *word, size_t len, const char **out,
               size_t *out_len, lethe_err *err) {
  const char *fixed = irregular_form(word, len);
  if (fixed) { /* rule 1 */
    set_stem(s, fixed, strlen(fixed));
    *out = s->stem;
    *out_len = strlen(fixed);
    return 0;
  }
  if (len == 4 && (ends_with(word, len, "ies") || ends_with(word, len, "ied"))) {
    set_stem(s, word, 1); /* rule 2 */
    memcpy(s->stem + 1, "ie", 2);
    *out = s->stem;
    *out_len = 3;
    return 0;
  }
  size_t fed = step2_rewrite(s, word, len);
  const sb_symbol *stemmed = sb_stemmer_stem(s->stemmer, (const sb_symbol *)s->word, (int)fed);
  if (!stemmed) return lethe_errf(err, LETHE_E_NOMEM, "rouge: stemmer out of memory");
  size_t k = (size_t)sb_stemmer_length(s->stemmer);
  set_stem(s, (const char *)stemmed, k);
  nltk_corrections(s, word, len, &k);
  *out = s->stem;
  *out_len = k;
  return 0;
}

/* ---- tokenisation ----------------------------------------------------- */

static void push_token(token_list *t, const char *text, size_t len) {
  if (t->n == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 64;
    t->offset = lethe_realloc(t->offset, t->cap * sizeof *t->offset);
  }
  if (t->chars_len + len + 1 > t->chars_cap) {
    t->chars_cap = 2 * (t->chars_len + len + 1);
    t->chars = lethe_realloc(t->chars, t->chars_cap);
  }
  t->offset[t->n++] = t->chars_len;
  memcpy(t->chars + t->chars_len, text, len);
  t->chars[t->chars_len + len] = '\0';
  t->chars_len += len + 1;
}

/* Ends the word being read (stemming it when longer than 3 characters,
 * unless stemming is off). */
static int flush_word(rouge_scorer *s, token_list *t, const char *word, size_t len,
                      lethe_err *err) {
  if (len == 0) return 0;
  if (len <= 3 || s->no_stem) {
    push_token(t, word, len);
    return 0;
  }
  const char *stem;
  size_t stem_len;
  if (rouge_stem(s, word, len, &stem, &stem_len, err)) return -1;
  push_token(t, stem, stem_len);
  return 0;
}

/* Python's str.lower() followed by re.sub('[^a-z0-9]+', ' '): ASCII letters
 * are lowered, ASCII digits kept, and every other character is a separator,
 * except the only two characters outside ASCII whose lower case contains an
 * ASCII letter: U+212A KELVIN SIGN -> "k" and U+0130 (I with dot above) ->
 * "i" + U+0307 (a separator). Bytes that are not valid UTF-8 separate. */
static int tokenize_into(rouge_scorer *s, token_list *t, const char *text, lethe_err *err) {
  t->n = 0;
  t->chars_len = 0;
  size_t cap = 64, len = 0;
  char *word = lethe_malloc(cap);
  const unsigned char *p = (const unsigned char *)text;
  int rc = 0;
  while (*p && rc == 0) {
    char c = 0;
    int ends_word = 0;
    if (*p < 0x80) {
      c = (char)*p;
      if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) c = 0;
      p++;
    } else if (p[0] == 0xE2 && p[1] == 0x84 && p[2] == 0xAA) {
      c = 'k';
      p += 3;
    } else if (p[0] == 0xC4 && p[1] == 0xB0) {
      c = 'i';
      ends_word = 1;
      p += 2;
    } else {
      p++; /* any other byte of a multi-byte sequence: a separator */
    }
    if (c) {
      if (len + 1 >= cap) word = lethe_realloc(word, cap *= 2);
      word[len++] = c;
    }
    if (!c || ends_word) {
      rc = flush_word(s, t, word, len, err);
      len = 0;
    }
  }
  if (rc == 0) rc = flush_word(s, t, word, len, err);
  free(word);
  return rc;
}

int rouge_tokenize(rouge_scorer *s, const char *text, size_t *n, lethe_err *err) {
  if (tokenize_into(s, &s->lists[0], text, err)) return -1;
  *n = s->lists[0].n;
  return 0;
}

const char *rouge_token(const rouge_scorer *s, size_t i) {
  return s->lists[0].chars + s->lists[0].offset[i];
}

/* ---- ROUGE-L ------------------------------------------------------------ */

static int same_token(const token_list *a, size_t i, const token_list *b, size_t j) {
  return strcmp(a->chars + a->offset[i], b->chars + b->offset[j]) == 0;
}

/* Length of the longest common subsequence, one DP row over b. */
static size_t lcs_length(rouge_scorer *s, const token_list *a, const token_list *b) {
  if (b->n + 1 > s->lcs_cap) {
    s->lcs_cap = 2 * (b->n + 1);
    s->lcs_row = lethe_realloc(s->lcs_row, s->lcs_cap * sizeof *s->lcs_row);
  }
  int *row = s->lcs_row; /* row[j] = LCS(a[0..i), b[0..j)) */
  memset(row, 0, (b->n + 1) * sizeof *row);
  for (size_t i = 0; i < a->n; i++) {
    int diag = 0; /* LCS(a[0..i), b[0..j-1)) before this row's update */
    for (size_t j = 1; j <= b->n; j++) {
      int up = row[j];
      if (same_token(a, i, b, j - 1)) row[j] = diag + 1;
      else if (row[j - 1] > row[j]) row[j] = row[j - 1];
      diag = up;
    }
  }
  return (size_t)row[b->n];
}

int rouge_l(rouge_scorer *s, const char *reference, const char *prediction,
            rouge_score *out, lethe_err *err) {
  token_list *ref = &s->lists[0], *pred = &s->lists[1];
  if (tokenize_into(s, ref, reference, err) || tokenize_into(s, pred, prediction, err))
    return -1;
  out->precision = out->recall = out->fmeasure = 0.0;
  if (ref->n == 0 || pred->n == 0) return 0;
  double lcs = (double)lcs_length(s, ref, pred);
  out->precision = lcs / (double)pred->n;
  out->recall = lcs / (double)ref->n;
  if (out->precision + out->recall > 0)
    out->fmeasure = 2 * out->precision * out->recall / (out->precision + out->recall);
  return 0;
}
