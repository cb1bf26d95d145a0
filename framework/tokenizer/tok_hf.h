/* tok_hf — the Hugging Face pipeline behind a BPE tokenizer.json: normalizers,
 * pre-tokenizers, the BPE model, added tokens, decoders. Shared by the
 * tokenizer's own files; not part of the API (tokenizer.h says what runs). */
#ifndef LETHE_TOK_HF_H
#define LETHE_TOK_HF_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tok_internal.h"

#define TOK_MAX_STAGES 16 /* components in one Sequence, nested Sequences flattened */

/* ---- growable byte buffer and piece lists (no per-token malloc) ---------- */
typedef struct tok_buf {
  char *s;
  size_t n, cap;
} tok_buf;
void tok_buf_put(tok_buf *b, const char *s, size_t n);
void tok_buf_free(tok_buf *b);

typedef struct tok_piece {
  size_t off, len; /* bytes in the owning tok_pieces' text */
  int at_start;    /* TOK_AT_START: begins at offset 0 of the original input (Metaspace
                      "first"); TOK_AT_CONTINUATION: begins a text that continues one already
                      begun (tok_encode_segment: no prefix space, no leading replacement) */
} tok_piece;
typedef struct tok_pieces {
  tok_buf text; /* the pieces' bytes */
  tok_piece *v;
  int n, cap;
} tok_pieces;
enum { TOK_AT_START = 1, TOK_AT_CONTINUATION = 2 };
void tok_pieces_add(tok_pieces *p, size_t off, size_t len, int at_start);
void tok_pieces_free(tok_pieces *p);

/* ---- regexes (PCRE2, UTF + UCP, JIT where available) ---------------------- */
typedef struct tok_regex tok_regex;
/* Compiles an Oniguruma-style pattern (\s \S \w \W widened to Oniguruma's
 * Unicode classes). The compiled regex owns its match data: one thread at a
 * time. */
tok_regex *tok_regex_new(const char *pattern, size_t len, lethe_err *err);
/* Finds the first match at or after start in s[0..n) (valid UTF-8): 1 and
 * [*mstart, *mend), or 0 when there is none (or the match fails for lack of
 * memory even in the interpreter). */
int tok_regex_find(tok_regex *re, const char *s, size_t n, size_t start, size_t *mstart,
                   size_t *mend);
void tok_regex_free(tok_regex *re);

/* A literal string or a regex (the {"String": s} / {"Regex": r} of HF). */
typedef struct tok_pattern {
  char *literal;    /* owned, NULL for a regex */
  size_t n_literal;
  tok_regex *regex; /* owned, NULL for a literal */
} tok_pattern;
int tok_pattern_find(const tok_pattern *p, const char *s, size_t n, size_t start, size_t *ms,
                     size_t *me);
void tok_pattern_free(tok_pattern *p);

/* ---- normalizers ------------------------------------------------------------ */
typedef enum {
  TOK_NORM_NFC, TOK_NORM_NFD, TOK_NORM_NFKC, TOK_NORM_NFKD, TOK_NORM_LOWERCASE,
  TOK_NORM_PREPEND, TOK_NORM_REPLACE, TOK_NORM_STRIP
} tok_norm_kind;
typedef struct tok_normalizer {
  tok_norm_kind kind;
  tok_pattern pattern; /* Replace */
  char *text;          /* Prepend's prefix, Replace's content (owned) */
  int left, right;     /* Strip */
} tok_normalizer;
/* Applies the normalizers in order to s[0..n) and leaves the result in out
 * (replacing its content). */
/* skip_prepend: a continuation's first segment gets no Prepend. */
void tok_normalize(const tok_normalizer *v, int n_norm, const char *s, size_t n, int skip_prepend,
                   tok_buf *out);

/* ---- pre-tokenizers ------------------------------------------------------- */
typedef enum {
  TOK_SPLIT_REMOVED, TOK_SPLIT_ISOLATED, TOK_SPLIT_MERGED_PREV, TOK_SPLIT_MERGED_NEXT,
  TOK_SPLIT_CONTIGUOUS
} tok_split_behavior;
typedef enum {
  TOK_PRE_SPLIT, TOK_PRE_BYTELEVEL, TOK_PRE_METASPACE, TOK_PRE_DIGITS, TOK_PRE_WHITESPACE_SPLIT,
  TOK_PRE_PUNCTUATION
} tok_pre_kind;
enum { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER };
typedef struct tok_pretok {
  tok_pre_kind kind;
  tok_pattern pattern; /* Split; ByteLevel with use_regex (GPT-2's regex) */
  tok_split_behavior behavior;
  int invert, add_prefix_space, use_regex, individual_digits;
  char replacement[8]; /* Metaspace, UTF-8 */
  int prepend_scheme, split;
} tok_pretok;
/* Runs the pre-tokenizers on *in (pieces over in->text) into *out; both are
 * work buffers the caller keeps (their content is replaced). The result is
 * in *in when the function returns (the two are swapped as needed). */
void tok_pretokenize_hf(const tok_pretok *v, int n_pre, tok_pieces *in, tok_pieces *out);

/* ---- the BPE model ------------------------------------------------------------ */
typedef struct tok_merge_slot {
  uint64_t key; /* (left id << 32 | right id) + 1; 0 = empty */
  int32_t rank, merged;
} tok_merge_slot;
#define TOK_SMALL_CHARS 0x800 /* code points whose ids sit in a table */
#define TOK_CACHE_SLOTS 8192  /* the BPE word cache: power of two */
#define TOK_CACHE_WORD 22     /* longest word cached (bytes) */
#define TOK_CACHE_IDS 8       /* most ids of a cached word */
typedef struct tok_cached_word {
  uint8_t len, n_ids; /* n_ids 0: empty */
  char word[TOK_CACHE_WORD];
  int32_t ids[TOK_CACHE_IDS];
} tok_cached_word;
typedef struct tok_bpe {
  tok_merge_slot *merges;
  uint32_t n_slots; /* power of two */
  int32_t unk;      /* -1: unknown characters are dropped */
  int fuse_unk, byte_fallback, ignore_merges;
  int32_t byte_ids[256]; /* ids of <0xHH>, -1 when absent */
  int32_t small_ids[TOK_SMALL_CHARS]; /* id of each one-character token, -1 */
  tok_cached_word *cache; /* (TOK_CACHE_SLOTS) owned; written while encoding */
} tok_bpe;
void tok_bpe_add_merge(tok_bpe *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
/* Appends the ids of one pre-token (bytes s[0..n)) to *ids / *n / *cap.
 * Fills m->cache: one thread at a time. */
void tok_bpe_word(const tok_tokenizer *t, const tok_bpe *m, const char *s, size_t n,
                  int32_t **ids, int *n_ids, int *cap);

/* ---- added tokens ------------------------------------------------------------ */
typedef struct tok_added_token {
  int32_t id;
  char *match; /* owned: the content, normalized when `normalized` ("" never matches) */
  int single_word, lstrip, rstrip, normalized, special;
} tok_added_token;
/* Leftmost-longest match of the added tokens with the given `normalized`
 * flag in s[0..n) at or after start: returns 1 and the span (extended by
 * lstrip / rstrip, never before start) and the id. */
int tok_added_find(const tok_tokenizer *t, int normalized, const char *s, size_t n, size_t start,
                   size_t *ms, size_t *me, int32_t *id);

/* ---- decoders ---------------------------------------------------------------- */
typedef enum {
  TOK_DEC_BYTELEVEL, TOK_DEC_METASPACE, TOK_DEC_BYTEFALLBACK, TOK_DEC_FUSE, TOK_DEC_STRIP,
  TOK_DEC_REPLACE
} tok_dec_kind;
typedef struct tok_decoder {
  tok_dec_kind kind;
  tok_pattern pattern; /* Replace */
  char *text;          /* Replace's content; Strip's content char; Metaspace replacement */
  int start, stop, prepend_scheme;
} tok_decoder;
/* Runs the decoders on the token strings (pieces of *p) and returns the
 * joined text (malloc'd). */
char *tok_decode_hf(const tok_decoder *v, int n_dec, tok_pieces *p, tok_pieces *work);

/* ---- the whole pipeline ------------------------------------------------------ */
struct tok_hf {
  tok_normalizer norm[TOK_MAX_STAGES];
  int n_norm;
  tok_pretok pre[TOK_MAX_STAGES];
  int n_pre;
  tok_bpe bpe;
  tok_added_token *added; /* sorted by id (tok_decode_hf_ids searches it) */
  int n_added;
  tok_decoder dec[TOK_MAX_STAGES];
  int n_dec;
  int has_decoder;
  uint32_t added_first[8]; /* bitmap of first bytes of added tokens */
};
void tok_hf_free(struct tok_hf *h);
/* Reads a BPE tokenizer.json (root: a jansson object) into a new tokenizer. */
int tok_hf_read(void *root, const char *path, tok_tokenizer **out, lethe_err *err);
/* flags: the post-processor's leading (TOK_HF_PREFIX) and trailing
 * (TOK_HF_SUFFIX) special tokens; TOK_HF_CONTINUATION: the text continues
 * one already begun (tok_encode_segment). */
enum { TOK_HF_PREFIX = 1, TOK_HF_SUFFIX = 2, TOK_HF_CONTINUATION = 4 };
int tok_encode_hf(const tok_tokenizer *t, const char *text, size_t len, unsigned flags,
                  int32_t **ids, int *n, int *n_unknown);
char *tok_decode_hf_ids(const tok_tokenizer *t, const int32_t *ids, int n, int skip_special);

/* The byte-level alphabet: a byte's character as UTF-8 (1-2 bytes), and a
 * character's byte (-1 when it is not one of the 256). */
const char *tok_byte_char(unsigned b, size_t *len);
int tok_char_byte(uint32_t cp);

/* UTF-8 helpers shared by the pipeline files. */
int tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp); /* 0 = invalid */
size_t tok_utf8_put(uint32_t cp, char *out);                        /* 1..4 bytes */

#endif
