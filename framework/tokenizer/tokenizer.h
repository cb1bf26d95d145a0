/* tokenizer — two kinds of tokenizer behind one API: the word-level
 * tokenizer of the embedded world (built here, written and read as a
 * tokenizer.json), and Hugging Face BPE tokenizers read from a published
 * tokenizer.json (+ tokenizer_config.json, tok_load_dir).
 *
 * Word level: pre-tokenization is Hugging Face's Sequence[WhitespaceSplit,
 * Punctuation(Isolated)] (the same as BertPreTokenizer): text is split on
 * Unicode white space (dropped), then every punctuation character (ASCII
 * punctuation or a Unicode P* category) becomes a piece of its own. Before
 * that, the added (special) tokens are cut out of the raw text, longest match
 * first, as Hugging Face does. Each piece is looked up in the WordLevel
 * vocabulary; unknown pieces become the unk id. No normalizer (case is kept).
 * decode joins the pieces of the ids with one space (Hugging Face's behaviour
 * for a tokenizer.json without a decoder), optionally skipping special tokens:
 * "Paris , France ." — not the original spacing.
 *
 * BPE (byte-level: GPT-2, GPT-4, Llama-3, Qwen; SentencePiece-style with
 * byte_fallback: Llama-2, Mistral, Gemma): encode and decode give the ids and
 * text of Hugging Face tokenizers' encode(text, add_special_tokens) and
 * decode(ids, skip_special_tokens), pipeline and all — added tokens (raw and
 * normalized passes, single_word / lstrip / rstrip), normalizers NFC NFD NFKC
 * NFKD Lowercase Prepend Replace Strip, pre-tokenizers Split (PCRE2 regexes)
 * ByteLevel Metaspace Digits Whitespace WhitespaceSplit Punctuation
 * BertPreTokenizer, BPE with merges in both JSON forms, ignore_merges,
 * byte_fallback, unk / fuse_unk, post-processors TemplateProcessing and
 * ByteLevel, decoders ByteLevel Metaspace ByteFallback Fuse Strip Replace;
 * Sequence of each. docs/file-formats.md lists them. A BPE tokenizer is not
 * saved (tok_save refuses it) and must not be used by two threads at once
 * (its compiled regexes share their match data; encode fills a word cache).
 *
 * Refused when read, with an error naming the field path (e.g.
 * "tokenizer.json: model.type "Unigram" is not supported (supported: BPE,
 * WordLevel)"): Unigram and WordPiece models, any component type not listed
 * above (BertNormalizer, Precompiled, RobertaProcessing, BertProcessing, the
 * WordPiece decoder, ...), merge dropout, subword affixes, truncation,
 * padding.
 */
#ifndef LETHE_TOKENIZER_H
#define LETHE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Ids of the special tokens in every vocabulary this module builds. A loaded
 * tokenizer.json may use others: ask tok_special(). */
enum { TOK_PAD_ID = 0, TOK_BOS_ID = 1, TOK_EOS_ID = 2, TOK_UNK_ID = 3, TOK_N_SPECIAL = 4 };
#define TOK_PAD "<pad>"
#define TOK_BOS "<s>"
#define TOK_EOS "</s>"
#define TOK_UNK "<unk>"

typedef struct tok_tokenizer tok_tokenizer; /* opaque; immutable once built */

typedef struct tok_special_ids {
  int32_t pad, bos, eos, unk; /* -1 when the tokenizer has no such token */
} tok_special_ids;

/* ---- UTF-8 and pre-tokenization (shared with the data module) ---------- */
/* Returns 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates, at most
 * U+10FFFF). Otherwise returns 0 and sets *bad_offset to the first bad byte. */
int tok_utf8_valid(const char *s, size_t n, size_t *bad_offset);

/* Calls fn(piece, len, user) for each pre-tokenized piece of text (valid
 * UTF-8, NUL-terminated), in order. No special-token extraction. Stops early
 * and returns fn's value when fn returns non-zero; returns 0 otherwise. */
typedef int (*tok_piece_fn)(const char *piece, size_t len, void *user);
int tok_pretokenize(const char *text, tok_piece_fn fn, void *user);

/* ---- building a vocabulary --------------------------------------------- */
typedef struct tok_builder tok_builder; /* counts pieces of the texts added */
tok_builder *tok_builder_new(void);
/* Counts the pieces of text; refuses invalid UTF-8. */
int tok_builder_add(tok_builder *b, const char *text, lethe_err *err);
size_t tok_builder_distinct(const tok_builder *b); /* distinct pieces so far */
/* Starts a later tier: pieces first seen after this call get ids after every
 * piece seen before it, and texts added from now on leave the counts (so the
 * ids) of earlier pieces alone. A vocabulary can so grow by new text without
 * renumbering what a model was trained on. */
void tok_builder_next_tier(tok_builder *b);
/* Makes a tokenizer: ids 0..3 are <pad> <s> </s> <unk>, then every piece, by
 * tier, most frequent first within a tier, ties in byte order (deterministic). Pieces that equal a
 * special token's text are not added twice. The builder is left untouched;
 * the caller frees both. */
tok_tokenizer *tok_builder_finish(const tok_builder *b);
void tok_builder_free(tok_builder *b);

/* ---- use ----------------------------------------------------------------- */
void tok_free(tok_tokenizer *t);
int tok_vocab_size(const tok_tokenizer *t);
tok_special_ids tok_special(const tok_tokenizer *t);
/* Id of an exact vocabulary entry, or -1. */
int32_t tok_id(const tok_tokenizer *t, const char *word, size_t len);
/* Text of an id (borrowed, lives as long as t), or NULL when out of range. */
const char *tok_word(const tok_tokenizer *t, int32_t id);

/* Encodes text into *ids (malloc'd, caller frees) and *n. With
 * add_special != 0 the post-processor's tokens are added (for the tokenizers
 * built here: <s> first, as Llama's tokenizer does; for a BPE file: its
 * TemplateProcessing, or tokenizer_config.json's add_bos/eos_token). Fails only on invalid
 * UTF-8 (the error names the byte offset). *n_unknown, if non-NULL, receives
 * how many pieces were not in the vocabulary. */
int tok_encode(const tok_tokenizer *t, const char *text, int add_special, int32_t **ids, int *n,
               int *n_unknown, lethe_err *err);
/* Encodes one segment of a text made of several (a prompt, then its answer),
 * so that the segments meet at a token boundary. TOK_SEG_FIRST: the
 * post-processor's leading special tokens (BOS), then the text as the start
 * of a text. TOK_SEG_CONTINUATION: no special tokens, and the text continues
 * one already begun — no prefix space, no leading ▁ (the text's own leading
 * space is kept). The trailing special tokens of the post-processor are
 * never added. Fails only on invalid UTF-8. */
enum { TOK_SEG_FIRST = 0, TOK_SEG_CONTINUATION = 1 };
int tok_encode_segment(const tok_tokenizer *t, const char *text, int segment, int32_t **ids, int *n,
                       lethe_err *err);
/* Decodes ids into a malloc'd string (see the top of this file). Ids out of
 * range decode as the unk token's text. */
char *tok_decode(const tok_tokenizer *t, const int32_t *ids, int n, int skip_special);

/* ---- tokenizer.json ------------------------------------------------------ */
/* Writes t as a Hugging Face tokenizer.json (atomically). */
int tok_save(const tok_tokenizer *t, const char *path, lethe_err *err);
/* Writes a tokenizer_config.json that makes transformers' AutoTokenizer load
 * the tokenizer.json next to it as a PreTrainedTokenizerFast with these
 * special tokens (atomically). */
int tok_save_config(const tok_tokenizer *t, const char *path, int model_max_length, lethe_err *err);
/* Reads a tokenizer.json: model.type "WordLevel" of the kind tok_save writes
 * (normalizer null, pre_tokenizer WhitespaceSplit / Punctuation (Isolated) /
 * BertPreTokenizer or a Sequence of them, post_processor null or
 * TemplateProcessing, decoder null), or model.type "BPE" with the pipeline
 * described at the top of this file. Anything else is refused naming the
 * field. The pad, bos and eos ids are those of the entries "<pad>", "<s>",
 * "</s>" (-1 when absent); unk is model.unk_token (-1 when null). On success
 * *out is a new tokenizer the caller frees with tok_free. */
int tok_load(const char *path, tok_tokenizer **out, lethe_err *err);
/* Reads DIR/tokenizer.json (tok_load) and, when present,
 * DIR/tokenizer_config.json: bos_token, eos_token, pad_token, unk_token
 * (strings, AddedToken objects or null) set tok_special(); add_bos_token /
 * add_eos_token, when true or false, replace the post-processor by
 * [bos] $A [eos] as transformers' LlamaTokenizerFast does. */
int tok_load_dir(const char *dir, tok_tokenizer **out, lethe_err *err);

#endif
