/* world_gen — builds the world in memory: author facts, the author QA with
 * paraphrases and perturbed answers, the general-knowledge sets with options,
 * the pre-training QA and the "I don't know" answers. Each part draws from its
 * own RNG stream of the seed, so e.g. changing qa_per_author keeps the facts.
 * Writing files is world_write.c's job. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "data/world_internal.h"

enum {
  STREAM_AUTHORS = 1,
  STREAM_QA = 2,
  STREAM_GENERAL = 3,
  STREAM_IDK = 4,
  STREAM_HOLDOUT_AUTHORS = 5,
  STREAM_HOLDOUT_QA = 6
};
enum { YEAR_FIRST = 1935, YEAR_SPAN = 51, MAX_TRIES = 10000 };

const data_setting world_settings_table[] = {
#define INT_SETTING(field, def, min, max, doc) \
  { #field, DATA_SETTING_INT, offsetof(world_settings, field), def, min, max, NULL, doc }
    INT_SETTING(authors, 200, WORLD_MIN_AUTHORS, 500, "fictitious authors"),
    INT_SETTING(qa_per_author, 20, 1, WORLD_N_TYPES, "QA per author"),
    INT_SETTING(perturbed, 5, 1, 8, "perturbed answers per author QA"),
    INT_SETTING(general_qa, 100, 3, 120, "QA in each general-knowledge set"),
    INT_SETTING(idk, 100, 1, 100, "\"I don't know\" answers"),
    INT_SETTING(pretrain_rephrasings, 2, 0, 2, "extra pre-training QA per general QA"),
#undef INT_SETTING
};
const size_t world_n_settings = sizeof world_settings_table / sizeof world_settings_table[0];

void world_settings_default(world_settings *s) {
  memset(s, 0, sizeof *s);
  data_settings_defaults(world_settings_table, world_n_settings, s);
}

static const char *pick(const str_table *t, lethe_rng *r) {
  return t->v[lethe_rng_below(r, (uint64_t)t->n)];
}

static char *fmt_str(const char *fmt, const char *a, const char *b) {
  size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
  char *s = lethe_malloc(n);
  snprintf(s, n, fmt, a, b);
  return s;
}

static char *int_str(int v) {
  char buf[16];
  snprintf(buf, sizeof buf, "%d", v);
  return lethe_strdup(buf);
}

/* ---- author facts -------------------------------------------------------------- */
typedef struct author {
  int female;
  char *facts[N_FACTS]; /* owned */
} author;

/* A value of `kind` for a fact of author a (a plausible wrong value when the
 * caller rejects the true one). Always a new string. */
static char *draw_value(int kind, int fact, const author *a, lethe_rng *r) {
  switch (kind) {
    case K_NAME:
      return fmt_str("%s %s", pick(a->female ? &world_first_female : &world_first_male, r),
                     pick(&world_last_names, r));
    case K_DATE: {
      char buf[48];
      snprintf(buf, sizeof buf, "%d %s %d", 1 + (int)lethe_rng_below(r, 28), pick(&world_months, r),
               YEAR_FIRST + (int)lethe_rng_below(r, YEAR_SPAN));
      return lethe_strdup(buf);
    }
    case K_PLACE: {
      int i = (int)lethe_rng_below(r, (uint64_t)world_place_cities.n);
      return fmt_str("%s, %s", world_place_cities.v[i], world_place_countries.v[i]);
    }
    case K_TITLE:
      return fmt_str("The %s %s", pick(&world_title_adjectives, r), pick(&world_title_nouns, r));
    case K_YEAR: { /* a nearby year, never in the future of the world (2024) */
      int d = 1 + (int)lethe_rng_below(r, 10), year = atoi(a->facts[fact]);
      return int_str(lethe_rng_below(r, 2) && year + d <= 2024 ? year + d : year - d);
    }
    case K_COUNT:
      return lethe_strdup(world_count_words.v[3 + lethe_rng_below(r, 13)]);
    case K_NUMBER:
      return int_str(3 + (int)lethe_rng_below(r, 38));
    case K_WRITER:
      return lethe_strdup(
          world_real_authors[lethe_rng_below(r, (uint64_t)world_n_real_authors)].name);
    case K_FIRST_NAME:
      return lethe_strdup(pick(lethe_rng_below(r, 2) ? &world_first_female : &world_first_male, r));
    case K_JOB:
      return lethe_strdup(pick(&world_jobs, r));
    case K_GENRE:
      return lethe_strdup(pick(&world_genres, r));
    case K_AWARD:
      return lethe_strdup(pick(&world_awards, r));
    case K_THEME:
      return lethe_strdup(pick(&world_themes, r));
    case K_CITY:
      return lethe_strdup(pick(&world_place_cities, r));
    case K_WORKPLACE:
      return lethe_strdup(pick(&world_workplaces, r));
    case K_FIELD:
      return lethe_strdup(pick(&world_fields, r));
    case K_HOBBY:
      return lethe_strdup(pick(&world_hobbies, r));
    case K_ROLE:
      return lethe_strdup(pick(&world_roles, r));
    default:
      assert(!"no values for this kind");
      return NULL;
  }
}

/* Draws until the value is not in avoid[0..n_avoid) (strings). */
static char *draw_distinct(int fact, const author *a, lethe_rng *r, char *const *avoid,
                           int n_avoid) {
  for (int tries = 0;; tries++) {
    char *v = draw_value(world_fact_kinds[fact], fact, a, r);
    int clash = 0;
    for (int i = 0; i < n_avoid && !clash; i++) clash = !strcmp(v, avoid[i]);
    if (!clash) return v;
    assert(tries < MAX_TRIES);
    free(v);
  }
}

static void make_author(author *a, lethe_rng *r, unsigned char *used_names,
                        unsigned char *used_titles) {
  memset(a, 0, sizeof *a);
  a->female = (int)lethe_rng_below(r, 2);
  const str_table *firsts = a->female ? &world_first_female : &world_first_male;
  int first, last, adj, noun, name_slot;
  do {
    first = (int)lethe_rng_below(r, (uint64_t)firsts->n);
    last = (int)lethe_rng_below(r, (uint64_t)world_last_names.n);
    name_slot = ((a->female ? world_first_male.n : 0) + first) * world_last_names.n + last;
  } while (used_names[name_slot]);
  used_names[name_slot] = 1;
  a->facts[F_NAME] = fmt_str("%s %s", firsts->v[first], world_last_names.v[last]);
  a->facts[F_BIRTH_DATE] = draw_value(K_DATE, F_BIRTH_DATE, a, r);
  int birth_year = atoi(strrchr(a->facts[F_BIRTH_DATE], ' ') + 1);
  for (int f = F_BIRTH_PLACE; f <= F_ROLE; f++) {
    if (f == F_BOOK1 || f == F_BOOK2) {
      do {
        adj = (int)lethe_rng_below(r, (uint64_t)world_title_adjectives.n);
        noun = (int)lethe_rng_below(r, (uint64_t)world_title_nouns.n);
      } while (used_titles[adj * world_title_nouns.n + noun]);
      used_titles[adj * world_title_nouns.n + noun] = 1;
      a->facts[f] = fmt_str("The %s %s", world_title_adjectives.v[adj], world_title_nouns.v[noun]);
    } else if (f == F_DEBUT_YEAR) {
      a->facts[f] = int_str(birth_year + 21 + (int)lethe_rng_below(r, 14));
    } else if (f == F_AWARD_YEAR) {
      int debut = atoi(a->facts[F_DEBUT_YEAR]), room = 2023 - debut - 2;
      a->facts[f] =
          int_str(debut + 2 + (int)lethe_rng_below(r, (uint64_t)(room < 15 ? room + 1 : 15)));
    } else if (f == F_MOTHER_JOB) {
      a->facts[f] = draw_distinct(f, a, r, &a->facts[F_FATHER_JOB], 1);
    } else if (f == F_CHARACTER) {
      char *first_name = lethe_strdup(firsts->v[first]);
      a->facts[f] = draw_distinct(f, a, r, &first_name, 1);
      free(first_name);
    } else {
      a->facts[f] = draw_value(world_fact_kinds[f], f, a, r);
    }
  }
  a->facts[F_HE] = lethe_strdup(a->female ? "she" : "he");
  a->facts[F_HE_CAP] = lethe_strdup(a->female ? "She" : "He");
  a->facts[F_HIS] = lethe_strdup(a->female ? "her" : "his");
  a->facts[F_HIS_CAP] = lethe_strdup(a->female ? "Her" : "His");
  a->facts[F_HIM] = lethe_strdup(a->female ? "her" : "him");
}

/* ---- templates ------------------------------------------------------------------ */
/* Expands {placeholders} of tmpl from names/values. When key >= 0 the value of
 * names[key] is key_value instead, and its byte span is stored. */
static char *expand(const char *tmpl, const char *const *names, char *const *values, int n, int key,
                    const char *key_value, size_t *key_off, size_t *key_len) {
  size_t cap = 256, len = 0;
  char *out = lethe_malloc(cap);
  for (const char *p = tmpl; *p;) {
    const char *piece = p;
    size_t plen = 1;
    if (*p == '{') {
      const char *close = strchr(p, '}');
      assert(close);
      int found = -1;
      for (int i = 0; i < n && found < 0; i++)
        if (strlen(names[i]) == (size_t)(close - p - 1) && !strncmp(names[i], p + 1, close - p - 1))
          found = i;
      assert(found >= 0);
      piece = found == key ? key_value : values[found];
      plen = strlen(piece);
      if (found == key) *key_off = len, *key_len = plen;
      p = close + 1;
    } else {
      p++;
    }
    while (len + plen + 1 > cap) cap *= 2;
    out = lethe_realloc(out, cap);
    memcpy(out + len, piece, plen);
    len += plen;
  }
  out[len] = '\0';
  if (out[0] >= 'a' && out[0] <= 'z') out[0] = (char)(out[0] - 'a' + 'A');
  return out;
}

static char *expand_author(const char *tmpl, const author *a) {
  return expand(tmpl, world_fact_names, a->facts, N_FACTS, -1, NULL, NULL, NULL);
}

static void make_qa(world_qa *q, const author *a, int ai, int type, int n_perturbed, lethe_rng *r) {
  const world_qa_type *t = &world_qa_types[type];
  int rq = (int)lethe_rng_below(r, 2), ia = (int)lethe_rng_below(r, 3);
  int ip = (ia + 1 + (int)lethe_rng_below(r, 2)) % 3;
  memset(q, 0, sizeof *q);
  q->author = ai;
  q->type = type;
  q->qa.question = expand_author(t->question[rq], a);
  q->qa.paraphrased_question = expand_author(t->question[1 - rq], a);
  q->qa.answer = expand_author(t->answer[ia], a);
  q->qa.paraphrased_answer = expand(t->answer[ip], world_fact_names, a->facts, N_FACTS, t->key,
                                    a->facts[t->key], &q->key_offset, &q->key_len);
  char **wrong = lethe_calloc((size_t)n_perturbed + 1, sizeof *wrong);
  wrong[0] = a->facts[t->key];
  q->qa.perturbed = lethe_calloc((size_t)n_perturbed, sizeof *q->qa.perturbed);
  for (int j = 0; j < n_perturbed; j++) {
    wrong[j + 1] = draw_distinct(t->key, a, r, wrong, j + 1);
    size_t off, len;
    q->qa.perturbed[j] = expand(t->answer[ip], world_fact_names, a->facts, N_FACTS, t->key,
                                wrong[j + 1], &off, &len);
  }
  q->qa.n_perturbed = n_perturbed;
  for (int j = 1; j <= n_perturbed; j++) free(wrong[j]);
  free(wrong);
}

/* ---- general knowledge ------------------------------------------------------------- */
typedef struct general_item {
  int kind; /* G_* or -1 for a science fact */
  int row;
} general_item;

static const char *const general_names[6] = {"author",  "work",      "country",
                                             "capital", "continent", "language"};

/* The value of a column of a row: 0 author, 1 work, 2 country (real authors) /
 * 2 country, 3 capital, 4 continent, 5 language (countries). */
static const char *general_value(int kind, int row, int column) {
  if (kind <= G_AUTHOR_WORK) {
    const real_author *ra = &world_real_authors[row];
    return column == 0 ? ra->name : column == 1 ? ra->work : column == 2 ? ra->country : NULL;
  }
  const country_fact *c = &world_countries[row];
  return column == 2   ? c->country
         : column == 3 ? c->capital
         : column == 4 ? c->continent
         : column == 5 ? c->language
                       : NULL;
}

static int answer_column(int kind) {
  static const int cols[G_N_KINDS] = {0, 2, 1, 3, 4, 5};
  return cols[kind];
}

static void make_general(tofu_qa *qa, const general_item *it, lethe_rng *r, tofu_qa *pretrain,
                         size_t *n_pretrain, int rephrasings) {
  memset(qa, 0, sizeof *qa);
  const char *wrong[3], *answer, *q_alt[2], *a_alt[2];
  char *owned[4] = {NULL};
  if (it->kind < 0) {
    const science_fact *s = &world_science[it->row];
    qa->question = lethe_strdup(s->question);
    answer = s->answer;
    for (int i = 0; i < 3; i++) wrong[i] = s->wrong[i];
    q_alt[0] = q_alt[1] = s->rephrased;
    a_alt[0] = s->answer;
    a_alt[1] = s->sentence;
  } else {
    const char *values[6];
    for (int c = 0; c < 6; c++) values[c] = general_value(it->kind, it->row, c);
    const world_general_kind *k = &world_general_kinds[it->kind];
    int col = answer_column(it->kind),
        n_rows = it->kind <= G_AUTHOR_WORK ? world_n_real_authors : world_n_countries;
    answer = values[col];
    for (int i = 0; i < 3; i++) { /* distinct values of the same column */
      const char *v;
      int clash;
      do {
        v = general_value(it->kind, (int)lethe_rng_below(r, (uint64_t)n_rows), col);
        clash = !v || !strcmp(v, answer);
        for (int j = 0; j < i && !clash; j++) clash = !strcmp(v, wrong[j]);
      } while (clash);
      wrong[i] = v;
    }
    qa->question =
        expand(k->question[0], general_names, (char *const *)values, 6, -1, NULL, NULL, NULL);
    owned[0] =
        expand(k->question[1], general_names, (char *const *)values, 6, -1, NULL, NULL, NULL);
    owned[1] =
        expand(k->question[2], general_names, (char *const *)values, 6, -1, NULL, NULL, NULL);
    owned[2] = expand(k->sentence, general_names, (char *const *)values, 6, -1, NULL, NULL, NULL);
    q_alt[0] = owned[0];
    q_alt[1] = owned[1];
    a_alt[0] = answer;
    a_alt[1] = owned[2];
  }
  qa->answer = lethe_strdup(answer);
  qa->paraphrased_answer = lethe_strdup(answer);
  int pos = (int)lethe_rng_below(r, TOFU_N_OPTIONS);
  qa->perturbed = lethe_calloc(3, sizeof *qa->perturbed);
  qa->n_perturbed = 3;
  for (int i = 0, w = 0; i < TOFU_N_OPTIONS; i++)
    qa->options[i] = lethe_strdup(i == pos ? answer : wrong[w++]);
  for (int i = 0; i < 3; i++) qa->perturbed[i] = lethe_strdup(wrong[i]);
  tofu_qa *p = &pretrain[(*n_pretrain)++];
  memset(p, 0, sizeof *p);
  p->question = lethe_strdup(qa->question);
  p->answer = lethe_strdup(answer);
  for (int i = 0; i < rephrasings; i++) {
    p = &pretrain[(*n_pretrain)++];
    memset(p, 0, sizeof *p);
    p->question = lethe_strdup(q_alt[i]);
    p->answer = lethe_strdup(a_alt[i]);
  }
  for (int i = 0; i < 4; i++) free(owned[i]);
}

static int by_candidate(const void *a, const void *b) {
  const general_item *x = a, *y = b;
  if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
  return x->row - y->row;
}

/* Picks `n` candidates of one set and builds them; items are kept in table order. */
static void make_general_set(general_item *cand, int n_cand, int n, lethe_rng *r, tofu_qa **rows,
                             size_t *n_rows, world *w) {
  assert(n <= n_cand); /* world.general_qa's maximum is below every set's size */
  int *order = lethe_malloc((size_t)n_cand * sizeof *order);
  for (int i = 0; i < n_cand; i++) order[i] = i;
  lethe_rng_shuffle(r, order, (size_t)n_cand);
  general_item *chosen = lethe_malloc((size_t)n * sizeof *chosen);
  for (int i = 0; i < n; i++) chosen[i] = cand[order[i]];
  qsort(chosen, (size_t)n, sizeof *chosen, by_candidate);
  *rows = lethe_calloc((size_t)n, sizeof **rows);
  for (int i = 0; i < n; i++)
    make_general(&(*rows)[i], &chosen[i], r, w->pretrain, &w->n_pretrain,
                 w->settings.pretrain_rephrasings);
  *n_rows = (size_t)n;
  free(chosen);
  free(order);
}

static void make_general_sets(world *w, lethe_rng *r) {
  int n = w->settings.general_qa;
  w->pretrain = lethe_calloc((size_t)n * 2 * 3, sizeof *w->pretrain);
  general_item *cand = lethe_malloc(
      (size_t)(3 * world_n_real_authors + 3 * world_n_countries + world_n_science) * sizeof *cand);
  int nc = 0;
  for (int i = 0; i < world_n_real_authors; i++)
    for (int k = G_WORK_AUTHOR; k <= G_AUTHOR_WORK; k++) cand[nc++] = (general_item){k, i};
  make_general_set(cand, nc, n, r, &w->real_authors, &w->n_real_authors, w);
  nc = 0;
  for (int i = 0; i < world_n_countries; i++) {
    cand[nc++] = (general_item){G_CAPITAL, i};
    if (world_countries[i].continent) cand[nc++] = (general_item){G_CONTINENT, i};
    if (world_countries[i].language) cand[nc++] = (general_item){G_LANGUAGE, i};
  }
  for (int i = 0; i < world_n_science; i++) cand[nc++] = (general_item){-1, i};
  make_general_set(cand, nc, n, r, &w->world_facts, &w->n_world_facts, w);
  free(cand);
}

/* ---- the world ------------------------------------------------------------------------ */
static void make_idk(world *w, lethe_rng *r) {
  int n_all = world_idk_openers.n * world_idk_bodies.n;
  int *order = lethe_malloc((size_t)n_all * sizeof *order);
  for (int i = 0; i < n_all; i++) order[i] = i;
  lethe_rng_shuffle(r, order, (size_t)n_all);
  w->n_idk = (size_t)w->settings.idk;
  w->idk = lethe_calloc(w->n_idk, sizeof *w->idk);
  for (size_t i = 0; i < w->n_idk; i++)
    w->idk[i] = fmt_str("%s%s", world_idk_openers.v[order[i] / world_idk_bodies.n],
                        world_idk_bodies.v[order[i] % world_idk_bodies.n]);
  free(order);
}

/* The QA of authors[0..n), appended to qa: qa_per_author each, the types in
 * order (a random subset when fewer than all); world_qa.author = a. */
static void make_authors_qa(const author *authors, int n, const world_settings *s, lethe_rng *r,
                            world_qa *qa, size_t *n_qa) {
  int types[WORLD_N_TYPES];
  for (int a = 0; a < n; a++) {
    for (int t = 0; t < WORLD_N_TYPES; t++) types[t] = t;
    if (s->qa_per_author < WORLD_N_TYPES) {
      lethe_rng_shuffle(r, types, WORLD_N_TYPES);
      for (int i = 1; i < s->qa_per_author; i++) /* keep the chosen types in order */
        for (int j = i; j > 0 && types[j] < types[j - 1]; j--) {
          int tmp = types[j];
          types[j] = types[j - 1];
          types[j - 1] = tmp;
        }
    }
    for (int i = 0; i < s->qa_per_author; i++)
      make_qa(&qa[(*n_qa)++], &authors[a], a, types[i], s->perturbed, r);
  }
}

/* n authors drawn from r_authors (names and titles not in used_*, then
 * marked used), their names and QA (drawn from r_qa). */
static void make_author_set(int n, const world_settings *s, lethe_rng *r_authors, lethe_rng *r_qa,
                            unsigned char *used_names, unsigned char *used_titles, char ***names,
                            world_qa **qa, size_t *n_qa) {
  author *authors = lethe_calloc((size_t)n, sizeof *authors);
  for (int a = 0; a < n; a++) make_author(&authors[a], r_authors, used_names, used_titles);
  *names = lethe_calloc((size_t)n, sizeof **names);
  for (int a = 0; a < n; a++) (*names)[a] = lethe_strdup(authors[a].facts[F_NAME]);
  *qa = lethe_calloc((size_t)n * (size_t)s->qa_per_author, sizeof **qa);
  *n_qa = 0;
  make_authors_qa(authors, n, s, r_qa, *qa, n_qa);
  for (int a = 0; a < n; a++)
    for (int f = 0; f < N_FACTS; f++) free(authors[a].facts[f]);
  free(authors);
}

const int world_forget_percents[WORLD_N_FORGET_SPLITS] = {1, 5, 10, 20, 50};

int world_forget_authors(int n_authors, int percent) {
  int n = (n_authors * percent + 50) / 100;
  return n < 1 ? 1 : n;
}

int world_holdout_authors(int n_authors) {
  return world_forget_authors(n_authors, world_forget_percents[WORLD_N_FORGET_SPLITS - 1]);
}

int world_generate(world *w, const world_settings *s, uint64_t seed, lethe_err *err) {
  memset(w, 0, sizeof *w);
  if (data_settings_check(world_settings_table, world_n_settings, s, "world", err)) return -1;
  w->settings = *s;
  w->seed = seed;
  lethe_rng r_authors, r_qa, r_general, r_idk, r_holdout_authors, r_holdout_qa;
  lethe_rng_seed(&r_authors, tofu_mix_seed(seed, STREAM_AUTHORS));
  lethe_rng_seed(&r_qa, tofu_mix_seed(seed, STREAM_QA));
  lethe_rng_seed(&r_general, tofu_mix_seed(seed, STREAM_GENERAL));
  lethe_rng_seed(&r_idk, tofu_mix_seed(seed, STREAM_IDK));
  lethe_rng_seed(&r_holdout_authors, tofu_mix_seed(seed, STREAM_HOLDOUT_AUTHORS));
  lethe_rng_seed(&r_holdout_qa, tofu_mix_seed(seed, STREAM_HOLDOUT_QA));

  /* The holdout authors come after the trained ones: the trained authors are
   * those of a world without holdout, and no holdout author shares a name or
   * a book title with them. 500 + 250 authors need 1500 of the 1600 titles. */
  unsigned char *used_names = lethe_calloc(
      (size_t)(world_first_female.n + world_first_male.n) * (size_t)world_last_names.n, 1);
  unsigned char *used_titles =
      lethe_calloc((size_t)world_title_adjectives.n * world_title_nouns.n, 1);
  w->n_authors = s->authors;
  make_author_set(w->n_authors, s, &r_authors, &r_qa, used_names, used_titles, &w->author_names,
                  &w->qa, &w->n_qa);
  w->n_holdout_authors = world_holdout_authors(s->authors);
  make_author_set(w->n_holdout_authors, s, &r_holdout_authors, &r_holdout_qa, used_names,
                  used_titles, &w->holdout_names, &w->holdout_qa, &w->n_holdout_qa);
  free(used_names);
  free(used_titles);
  make_general_sets(w, &r_general);
  make_idk(w, &r_idk);
  return 0;
}

static void free_rows(tofu_qa *rows, size_t n) {
  for (size_t i = 0; i < n; i++) tofu_qa_free(&rows[i]);
  free(rows);
}

void world_free(world *w) {
  for (int a = 0; a < w->n_authors; a++) free(w->author_names[a]);
  free(w->author_names);
  for (size_t i = 0; i < w->n_qa; i++) tofu_qa_free(&w->qa[i].qa);
  free(w->qa);
  for (int a = 0; a < w->n_holdout_authors; a++) free(w->holdout_names[a]);
  free(w->holdout_names);
  for (size_t i = 0; i < w->n_holdout_qa; i++) tofu_qa_free(&w->holdout_qa[i].qa);
  free(w->holdout_qa);
  free_rows(w->real_authors, w->n_real_authors);
  free_rows(w->world_facts, w->n_world_facts);
  free_rows(w->pretrain, w->n_pretrain);
  for (size_t i = 0; i < w->n_idk; i++) free(w->idk[i]);
  free(w->idk);
  memset(w, 0, sizeof *w);
}
