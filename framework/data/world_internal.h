/* world_internal — the tables and templates the world's files share; not API. */
#ifndef LETHE_WORLD_INTERNAL_H
#define LETHE_WORLD_INTERNAL_H

#include "data/world.h"

typedef struct str_table {
  const char *const *v;
  int n;
} str_table;

/* ---- value tables (world_tables.c) ------------------------------------------ */
extern const str_table world_first_female, world_first_male, world_last_names;
extern const str_table world_place_cities, world_place_countries; /* parallel */
extern const str_table world_jobs, world_genres, world_title_adjectives, world_title_nouns;
extern const str_table world_awards, world_themes, world_workplaces, world_fields;
extern const str_table world_hobbies, world_roles, world_count_words, world_months;
extern const str_table world_idk_openers, world_idk_bodies;

typedef struct real_author {
  const char *name, *country, *work;
} real_author;
extern const real_author world_real_authors[];
extern const int world_n_real_authors;

typedef struct country_fact {
  const char *country, *capital, *continent, *language; /* NULL: no question */
} country_fact;
extern const country_fact world_countries[];
extern const int world_n_countries;

typedef struct science_fact {
  const char *question, *rephrased, *answer, *sentence, *wrong[3];
} science_fact;
extern const science_fact world_science[];
extern const int world_n_science;

/* ---- author facts and QA templates (world_templates.c) ------------------------
 * Placeholders in templates are {fact_name}; each fact has a kind that says
 * how a plausible wrong value is drawn. */
enum world_fact {
  F_NAME,
  F_BIRTH_DATE,
  F_BIRTH_PLACE,
  F_FATHER_JOB,
  F_MOTHER_JOB,
  F_GENRE,
  F_BOOK1,
  F_DEBUT_YEAR,
  F_BOOK2,
  F_AWARD,
  F_AWARD_YEAR,
  F_INFLUENCE,
  F_THEME,
  F_RESIDENCE,
  F_WORKPLACE,
  F_FIELD,
  F_UNI_CITY,
  F_BOOK_COUNT,
  F_LANG_COUNT,
  F_HOBBY,
  F_CHARACTER,
  F_ROLE,
  F_HE,
  F_HE_CAP,
  F_HIS,
  F_HIS_CAP,
  F_HIM,
  N_FACTS
};
enum world_kind {
  K_NAME,
  K_DATE,
  K_PLACE,
  K_JOB,
  K_GENRE,
  K_TITLE,
  K_YEAR,
  K_AWARD,
  K_WRITER,
  K_THEME,
  K_CITY,
  K_WORKPLACE,
  K_FIELD,
  K_COUNT,
  K_NUMBER,
  K_HOBBY,
  K_FIRST_NAME,
  K_ROLE,
  K_PRONOUN
};
extern const char *const world_fact_names[N_FACTS];
extern const int world_fact_kinds[N_FACTS];

typedef struct world_qa_type {
  int key; /* the fact perturbed answers replace */
  const char *question[2];
  const char *answer[3];
} world_qa_type;
extern const world_qa_type world_qa_types[WORLD_N_TYPES];

/* General-knowledge question kinds: the evaluated question, two rephrasings
 * for pre-training, and a full-sentence answer for the second rephrasing.
 * Placeholders: {author} {work} {country} {capital} {continent} {language}. */
enum {
  G_WORK_AUTHOR,
  G_AUTHOR_COUNTRY,
  G_AUTHOR_WORK,
  G_CAPITAL,
  G_CONTINENT,
  G_LANGUAGE,
  G_N_KINDS
};
typedef struct world_general_kind {
  const char *question[3];
  const char *sentence;
} world_general_kind;
extern const world_general_kind world_general_kinds[G_N_KINDS];

#endif
