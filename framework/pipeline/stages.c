/* stages — data, base and fine-tuned models with a stage cache (stages.h). */
#include "pipeline/stages.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <omp.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dist.h"
#include "core/progress.h"
#include "model/llama.h"
#include "model/token_batch.h"
#include "tensor/tensor.h"
#include "train/objective.h"
#include "train/trainer.h"

void stage_out_free(stage_out *s) {
  free(s->dir);
  free(s->work);
  memset(s, 0, sizeof *s);
}

static char *stage_dir(const experiment *e, const char *kind, uint64_t key) {
  char name[96];
  snprintf(name, sizeof name, "%s-%016llx", kind, (unsigned long long)key);
  return lethe_path_join(e->cache_dir, name);
}

static int is_done(const char *dir) {
  char *marker = lethe_path_join(dir, "DONE");
  int done = lethe_file_exists(marker);
  free(marker);
  return done;
}

/* Marks partial as complete and moves it to dir. */
static int finish_stage(const char *partial, const char *dir, lethe_err *err) {
  char *marker = lethe_path_join(partial, "DONE");
  int rc = lethe_write_file_atomic(marker, "ok\n", 3, err);
  free(marker);
  if (rc != 0) return -1;
  if (rename(partial, dir) != 0)
    return lethe_errf(err, LETHE_E_IO, "%s: cannot move the finished stage into place", dir);
  return 0;
}

int stage_lock(const char *dir, const char *what, lethe_err *err) {
  size_t n = strlen(dir) + 8;
  char *path = lethe_malloc(n);
  snprintf(path, n, "%s.lock", dir);
  char *parent = lethe_strdup(path), *slash = strrchr(parent, '/');
  if (slash) *slash = '\0';
  if (slash && lethe_mkdir_p(parent, err) != 0) {
    free(parent);
    free(path);
    return -1;
  }
  free(parent);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  int free_now = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
  if (fd >= 0 && !free_now && errno == EWOULDBLOCK) {
    char phase[96];
    snprintf(phase, sizeof phase, "waiting for %s", what);
    progress_phase(phase);
  }
  if (fd < 0 || (!free_now && flock(fd, LOCK_EX) != 0)) {
    lethe_errf(err, LETHE_E_IO, "%s: cannot lock the stage", path);
    if (fd >= 0) close(fd);
    free(path);
    return -1;
  }
  free(path);
  return fd;
}

void stage_unlock(int fd) {
  if (fd >= 0) close(fd); /* closing releases the flock */
}

/* Every rank calls it before building the stage in dir: rank 0 decides, under
 * the stage lock (*lock, held until stage_release) when the stage is not done
 * yet, and tells the others. Returns 1 = build it (every rank takes part),
 * 0 = it is done, -1 = error. */
static int stage_claim(const char *dir, const char *what, int *lock, lethe_err *err) {
  int build = 0;
  *lock = -1;
  if (dist_is_root() && !is_done(dir)) {
    *lock = stage_lock(dir, what, err);
    build = *lock < 0 ? -1 : !is_done(dir); /* another process may have built it meanwhile */
  }
  dist_bcast(&build, sizeof build, 0);
  if (build < 0 && !dist_is_root()) lethe_errf(err, LETHE_E_IO, "%s: rank 0 cannot lock the stage", dir);
  if (build <= 0) {
    stage_unlock(*lock);
    *lock = -1;
  }
  return build;
}

/* After building: waits until rank 0 has moved the stage into place, and
 * returns the build's status agreed over the ranks (rank 0 alone writes). */
static int stage_release(int lock, int rc, lethe_err *err) {
  dist_barrier();
  stage_unlock(lock);
  return dist_status(rc, err);
}

static char *partial_of(const char *dir) {
  size_t n = strlen(dir) + 16;
  char *p = lethe_malloc(n);
  snprintf(p, n, "%s.partial", dir);
  return p;
}

/* ---- data ------------------------------------------------------------------- */
static uint64_t hash_dir_files(const char *dir, uint64_t h, lethe_err *err) {
  struct dirent **list;
  int n = scandir(dir, &list, NULL, alphasort);
  if (n < 0) {
    lethe_errf(err, LETHE_E_IO, "%s: cannot read the data directory", dir);
    return 0;
  }
  for (int i = 0; i < n; i++) {
    const char *nm = list[i]->d_name;
    size_t len = strlen(nm);
    int data_file = (len > 5 && !strcmp(nm + len - 5, ".json")) ||
                    (len > 6 && !strcmp(nm + len - 6, ".jsonl"));
    if (data_file) {
      char *path = lethe_path_join(dir, nm), *text;
      size_t tl;
      if (lethe_read_file(path, (size_t)1 << 31, &text, &tl, err) == 0) {
        h = lethe_hash_bytes(text, tl, lethe_hash_str(nm, h));
        free(text);
      }
      free(path);
    }
    free(list[i]);
  }
  free(list);
  return h;
}

static int build_world(const experiment *e, stage_out *out, lethe_err *err);
static int complete_world(const experiment *e, const char *dir, lethe_err *err);

int stage_data(const experiment *e, stage_out *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  const char *given = lcfg_string(&e->cfg, "data.dir");
  if (*given) {
    lethe_err_clear(err);
    out->key = hash_dir_files(given, 7, err);
    if (err && err->code) return -1;
    out->dir = lethe_strdup(given);
    out->reused = 1;
    return 0;
  }
  static const char *const deps[] = {"world"};
  /* the format in the key: a world cached by another format lacks files */
  out->key = experiment_key(e, deps, EXPERIMENT_N_PATHS(deps),
                            0x77 ^ ((uint64_t)WORLD_FORMAT_VERSION << 8));
  out->dir = stage_dir(e, "world", out->key);
  int lock, build = stage_claim(out->dir, "the world", &lock, err);
  if (build == 0) { /* holdout files missing (removed by hand): written again */
    out->reused = 1;
    return dist_status(dist_is_root() ? complete_world(e, out->dir, err) : 0, err);
  }
  if (build < 0) return -1;
  int rc = dist_is_root() ? build_world(e, out, err) : 0; /* no model: rank 0 alone */
  return stage_release(lock, rc, err);
}

static int build_world(const experiment *e, stage_out *out, lethe_err *err) {
  world_settings ws;
  if (experiment_world(e, &ws, err) != 0 || lethe_mkdir_p(e->cache_dir, err) != 0) return -1;
  world w;
  progress_phase("generating the world");
  if (world_generate(&w, &ws, (uint64_t)lcfg_int(&e->cfg, "world.seed"), err) != 0) return -1;
  char *partial = partial_of(out->dir);
  int rc = world_write(&w, partial, err);
  world_free(&w);
  if (rc == 0) rc = finish_stage(partial, out->dir, err);
  free(partial);
  if (!e->quiet && rc == 0) lethe_log(LETHE_LOG_INFO, "world written to %s", out->dir);
  return rc;
}

/* The holdout files a world directory written before them lacks (the same
 * generator: its other files are unchanged). Concurrent runs may both write
 * them: the writes are atomic and give the same bytes. */
static int complete_world(const experiment *e, const char *dir, lethe_err *err) {
  char file[64];
  snprintf(file, sizeof file, "%s.json", world_holdout_names[0]);
  char *path = lethe_path_join(dir, file);
  int present = lethe_file_exists(path);
  free(path);
  if (present) return 0;
  world_settings ws;
  world w;
  if (experiment_world(e, &ws, err) != 0 ||
      world_generate(&w, &ws, (uint64_t)lcfg_int(&e->cfg, "world.seed"), err) != 0)
    return -1;
  int rc = world_write_holdout(&w, dir, err);
  world_free(&w);
  if (!e->quiet && rc == 0) lethe_log(LETHE_LOG_INFO, "holdout authors added to %s", dir);
  return rc;
}

int stage_tokenizer(const char *dir, tok_tokenizer **tok, lethe_err *err) {
  return tok_load_dir(dir, tok, err);
}

int stage_model_tokenizer(const char *model_dir, const char *fallback_dir, tok_tokenizer **tok,
                          lethe_err *err) {
  char *path = lethe_path_join(model_dir, "tokenizer.json");
  int own = lethe_file_exists(path);
  free(path);
  return stage_tokenizer(own ? model_dir : fallback_dir, tok, err);
}

/* ---- a user's model directory ------------------------------------------------------ */
int stage_model_dir_check(const char *dir, const char *what, int need_tokenizer, lethe_err *err) {
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return lethe_errf(err, LETHE_E_IO, "%s: %s is not a directory", what, dir);
  static const char *const weights[] = {"model.safetensors", "model.safetensors.index.json"};
  char *config = lethe_path_join(dir, "config.json"), *tok = lethe_path_join(dir, "tokenizer.json");
  char *w0 = lethe_path_join(dir, weights[0]), *w1 = lethe_path_join(dir, weights[1]);
  char *spm = lethe_path_join(dir, "tokenizer.model");
  int rc = 0;
  if (!lethe_file_exists(config))
    rc = lethe_errf(err, LETHE_E_IO, "%s: %s has no config.json", what, dir);
  else if (!lethe_file_exists(w0) && !lethe_file_exists(w1))
    rc = lethe_errf(err, LETHE_E_IO,
                    "%s: %s has neither model.safetensors nor model.safetensors.index.json "
                    "(PyTorch .bin checkpoints are not read: save with safe_serialization=True)",
                    what, dir);
  else if (need_tokenizer && !lethe_file_exists(tok))
    rc = lethe_errf(err, LETHE_E_IO, "%s: %s has no tokenizer.json%s", what, dir,
                    lethe_file_exists(spm) ? " (a SentencePiece tokenizer.model alone is not read: "
                                             "save the fast tokenizer with transformers first)"
                                           : "");
  free(config), free(tok), free(w0), free(w1), free(spm);
  return rc;
}

stage_givens stage_given_models(const experiment *e) {
  stage_givens g = {*lcfg_string(&e->cfg, "base.path") != '\0',
                    *lcfg_string(&e->cfg, "target.path") != '\0',
                    *lcfg_string(&e->cfg, "retain.path") || *lcfg_string(&e->cfg, "retain.eval")};
  return g;
}

char *stage_retain_eval_file(const char *given) {
  struct stat st;
  return stat(given, &st) == 0 && S_ISDIR(st.st_mode) ? lethe_path_join(given, "eval.json")
                                                      : lethe_strdup(given);
}

/* The key of a user's directory: its real path, and each file's name, size
 * and modification time, in name order. */
static uint64_t external_key(const char *dir, lethe_err *err) {
  char *real = realpath(dir, NULL);
  uint64_t h = lethe_hash_str(real ? real : dir, 0x6578);
  free(real);
  struct dirent **list;
  int n = scandir(dir, &list, NULL, alphasort);
  if (n < 0) {
    lethe_errf(err, LETHE_E_IO, "%s: cannot read the directory", dir);
    return 0;
  }
  for (int i = 0; i < n; i++) {
    char *path = lethe_path_join(dir, list[i]->d_name);
    struct stat st;
    if (list[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      char meta[96];
      snprintf(meta, sizeof meta, "%lld/%lld.%09ld", (long long)st.st_size,
               (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
      h = lethe_hash_str(meta, lethe_hash_str(list[i]->d_name, h));
    }
    free(path);
    free(list[i]);
  }
  free(list);
  return h;
}

int stage_external(const experiment *e, const char *key, stage_out *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  config_setting_t *s = lcfg_setting(&e->cfg, key);
  char where[700];
  lcfg_where(s, where, sizeof where);
  char what[800];
  snprintf(what, sizeof what, "%s (%s)", key, where);
  const char *dir = lcfg_string(&e->cfg, key);
  if (stage_model_dir_check(dir, what, 1, err) != 0) return -1;
  lethe_err_clear(err);
  out->key = external_key(dir, err);
  if (err && err->code) return -1;
  out->dir = lethe_strdup(dir);
  out->work = stage_dir(e, "external", out->key);
  out->reused = out->external = 1;
  return 0;
}

/* ---- fine-tuning loop (shared by base and fine-tune stages) --------------------- */
int stage_stream_index(long global, int n, uint64_t seed, int *order_cache, long *cached_epoch) {
  long epoch = global / n;
  if (epoch != *cached_epoch) {
    tofu_epoch_order(order_cache, n, seed, (uint64_t)epoch);
    *cached_epoch = epoch;
  }
  return order_cache[global % n];
}

void stage_batch_init(stage_batch *sb, const tofu_example *ex, int n, int batch_size,
                      uint64_t seed, const tofu_format *fmt, int32_t pad, int32_t eos) {
  memset(sb, 0, sizeof *sb);
  sb->ex = ex, sb->n = n, sb->batch_size = batch_size < n ? batch_size : n;
  sb->seed = seed, sb->fmt = fmt, sb->pad = pad, sb->eos = eos;
  sb->order = lethe_malloc(sizeof(int) * (size_t)n);
  sb->epoch = -1;
}

void stage_batch_free(stage_batch *sb) {
  free(sb->order);
  tofu_batch_free(&sb->tb);
  memset(sb, 0, sizeof *sb);
}

const tofu_batch *stage_batch_of_step(stage_batch *sb, long step) {
  int B = sb->batch_size;
  int idx[STAGE_MAX_BATCH];
  for (int j = 0; j < B; j++)
    idx[j] = stage_stream_index(step * B + j, sb->n, sb->seed, sb->order, &sb->epoch);
  tofu_batch_fill(&sb->tb, sb->ex, idx, B, sb->fmt, sb->pad, sb->eos);
  return &sb->tb;
}

typedef struct ft_ctx {
  llama_model *model;
  stage_batch sb;
  float *dlogp;
  size_t dlogp_cap;
} ft_ctx;

static int ft_micro(void *vctx, long step, int micro, double grad_scale, double *loss,
                    double *tokens, lethe_err *err) {
  ft_ctx *c = vctx;
  (void)micro;
  const tofu_batch *b = stage_batch_of_step(&c->sb, step);
  token_batch tb;
  token_batch_from_arrays(&tb, b->B, b->T, b->input_ids, b->attention_mask, b->labels, c->sb.pad);
  size_t n = (size_t)tb.B * tb.T;
  if (n > c->dlogp_cap) {
    free(c->dlogp);
    c->dlogp = lethe_malloc(n * sizeof(float));
    c->dlogp_cap = n;
  }
  /* every rank builds the whole batch, runs its rows and gets every row's logp */
  int rc = objective_target_logp(c->model, &tb, c->dlogp, err);
  if (rc == 0) {
    double sum = 0;
    long count = 0;
    for (size_t i = 0; i < n; i++)
      if (tb.targets[i] >= 0) sum -= c->dlogp[i], count++;
    *loss = count ? sum / count : 0;
    *tokens = (double)n;
    float g = count ? (float)(-grad_scale / count) : 0.0f;
    for (size_t i = 0; i < n; i++) c->dlogp[i] = tb.targets[i] >= 0 ? g : 0.0f;
    objective_backward(c->model, &tb, c->dlogp, NULL);
  }
  token_batch_free(&tb);
  return rc;
}

int stage_train_config(const experiment *e, const char *group, int n, train_config *tc,
                       lethe_err *err) {
  char key[64];
  snprintf(key, sizeof key, "%s.batch_size", group);
  int bs = (int)lcfg_int(&e->cfg, key);
  if (bs < 1 || bs > STAGE_MAX_BATCH) return lethe_errf(err, LETHE_E_CONFIG, "%s must be in [1, %d]", key, STAGE_MAX_BATCH);
  snprintf(key, sizeof key, "%s.epochs", group);
  double epochs = lcfg_float(&e->cfg, key);
  int eff = bs < n ? bs : n;
  memset(tc, 0, sizeof *tc);
  snprintf(key, sizeof key, "%s.lr", group);
  tc->opt.lr = lcfg_float(&e->cfg, key);
  snprintf(key, sizeof key, "%s.weight_decay", group);
  tc->opt.weight_decay = lcfg_float(&e->cfg, key);
  tc->opt.beta1 = 0.9, tc->opt.beta2 = 0.999, tc->opt.eps = 1e-8;
  tc->total_steps = (long)((epochs * n + eff - 1) / eff);
  if (tc->total_steps < 1) tc->total_steps = 1;
  snprintf(key, sizeof key, "%s.warmup_ratio", group);
  tc->warmup_steps = (long)(lcfg_float(&e->cfg, key) * tc->total_steps);
  tc->grad_accum = 1;
  tc->quiet = e->quiet;
  tc->epochs = epochs;
  return bs;
}

/* What a trained stage's train.json holds (see stage_train). */
typedef struct stage_record {
  const char *group, *label;
  int examples, batch_size;
  double epochs;
  long steps, resumed_from;
  double seconds;
} stage_record;

/* partial/train.json: how the stage was trained and how long it took (the
 * steps this process ran: all of them, or those after resumed_from), with
 * the compute, the CPU class, the threads and ranks it ran on. Timings are for
 * people and benchmarks (tests/bench/e2e.sh --part suite); nothing reads
 * them back into a run. */
static int write_train_record(const experiment *e, const stage_record *r, const char *partial,
                              lethe_err *err) {
  char machine[512];
  tensor_backend_describe(machine, sizeof machine);
  json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:f, s:I, s:I, s:f, s:s, s:s, s:i, s:i}",
                        "group", r->group, "stage", r->label, "examples", r->examples,
                        "batch_size", r->batch_size, "epochs", r->epochs,
                        "steps", (json_int_t)r->steps, "resumed_from", (json_int_t)r->resumed_from,
                        "seconds", r->seconds, "compute", lcfg_string(&e->cfg, "compute"),
                        "machine", machine, "threads", omp_get_max_threads(), /* per rank */
                        "ranks", dist_size());
  if (!o) return lethe_errf(err, LETHE_E_IO, "%s: cannot record the stage's training", partial);
  char *text = json_dumps(o, JSON_INDENT(1));
  json_decref(o);
  char *path = lethe_path_join(partial, "train.json");
  int rc = lethe_write_file_atomic(path, text, strlen(text), err);
  free(path);
  free(text);
  return rc;
}

int stage_train(const experiment *e, llama_model *m, const tofu_example *ex, int n,
                const char *group, const char *label, const char *partial, uint64_t seed,
                const tofu_format *fmt, int32_t pad, int32_t eos, lethe_err *err) {
  train_config tc;
  int bs = stage_train_config(e, group, n, &tc, err);
  if (bs < 0) return -1;
  tc.label = label;
  char *ckpt = partial ? lethe_path_join(partial, "checkpoint.safetensors") : NULL;
  tc.checkpoint_path = ckpt;
  tc.checkpoint_every = tc.total_steps / 10 > 1 ? tc.total_steps / 10 : 1;
  tc.resume = 1; /* a stage that was interrupted continues where it stopped */
  ft_ctx c = {m, {0}, NULL, 0};
  stage_batch_init(&c.sb, ex, n, bs, seed, fmt, pad, eos);
  objective_use_logits(m, 0); /* NLL needs only target log-probs */
  llama_set_skip_padding(m, 1); /* and no padded position */
  train_result res;
  double t0 = lethe_now();
  int rc = trainer_run(m, &tc, ft_micro, NULL, &c, &res, err);
  double seconds = lethe_now() - t0;
  stage_batch_free(&c.sb);
  free(c.dlogp);
  if (rc == 0 && ckpt && dist_is_root()) unlink(ckpt);
  free(ckpt);
  if (rc == 0 && partial && dist_is_root()) {
    stage_record r = {group, label, n, bs, tc.epochs, res.steps, res.resumed_from, seconds};
    rc = write_train_record(e, &r, partial, err);
  }
  return rc;
}


int stage_load_examples(const char *dir, const char *name, const tok_tokenizer *tok,
                        const tofu_format *fmt, int whole_sequence, tofu_example **ex, size_t *n,
                        lethe_err *err) {
  tofu_set set;
  if (tofu_load_split(dir, name, 0, &set, err) != 0) return -1;
  int rc = tofu_encode_set(tok, fmt, &set, ex, err);
  *n = set.n;
  tofu_set_free(&set);
  if (rc == 0 && whole_sequence)
    for (size_t i = 0; i < *n; i++) (*ex)[i].n_prompt = 1;
  return rc;
}

int stage_copy_tokenizer(const char *from, const char *to, lethe_err *err) {
  static const char *const files[] = {"tokenizer.json", "tokenizer_config.json",
                                      "special_tokens_map.json", "generation_config.json"};
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof files / sizeof files[0]; i++) {
    char *src = lethe_path_join(from, files[i]), *dst = lethe_path_join(to, files[i]);
    char *text;
    size_t len;
    if (i == 0 || lethe_file_exists(src)) { /* tokenizer.json is required, the rest optional */
      rc = lethe_read_file(src, (size_t)1 << 30, &text, &len, err);
      if (rc == 0) rc = lethe_write_file_atomic(dst, text, len, err);
      if (rc == 0) free(text);
    }
    free(src);
    free(dst);
  }
  return rc;
}

/* Rank 0 writes the model with the tokenizer it was trained with (the files
 * in tok_dir) and moves the stage into place. Stages keep float32 master
 * weights in one file whatever the model was loaded from (a bf16 base.path
 * is not rounded back to bf16 between stages); the user's dtype and shards
 * come back where a model is handed back (unlearn.save_model). */
static int save_stage_model(llama_model *m, const char *partial, const char *tok_dir,
                            const char *dir, lethe_err *err) {
  if (!dist_is_root()) return 0;
  llama_storage f32 = {0}; /* the zero value: F32, one model.safetensors */
  if (llama_save_as(m, partial, &f32, err) != 0 || stage_copy_tokenizer(tok_dir, partial, err) != 0)
    return -1;
  return finish_stage(partial, dir, err);
}

static int build_base(const experiment *e, const stage_out *data, stage_out *out, lethe_err *err);

int stage_base(const experiment *e, const stage_out *data, stage_out *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  static const char *const deps[] = {"model", "base", "data.format", "data.system_prompt", "data.question_start", "data.question_end",
                                     "data.answer_tag", "data.answer_end", "data.max_length", "compute"};
  out->key = experiment_key(e, deps, EXPERIMENT_N_PATHS(deps), data->key);
  out->dir = stage_dir(e, "base", out->key);
  int lock, build = stage_claim(out->dir, "the base model", &lock, err);
  if (build <= 0) return build < 0 ? -1 : (out->reused = 1, 0);
  return stage_release(lock, build_base(e, data, out, err), err);
}

static int build_base(const experiment *e, const stage_out *data, stage_out *out, lethe_err *err) {
  tok_tokenizer *tok = NULL;
  tofu_example *ex = NULL;
  size_t n = 0;
  llama_model m = {0};
  int rc = -1;
  tofu_format fmt;
  experiment_format(e, &fmt);
  char *partial = partial_of(out->dir);
  int failed = stage_tokenizer(data->dir, &tok, err) != 0 ||
               stage_load_examples(data->dir, "pretrain", tok, &fmt, 1, &ex, &n, err) != 0 ||
               lethe_mkdir_p(partial, err) != 0;
  if (dist_status(failed ? -1 : 0, err) != 0) goto done; /* not one rank alone: the others train */
  tok_special_ids sp = tok_special(tok);
  tofu_ids ids;
  if (tofu_format_ids(tok, &fmt, &ids, err) != 0) goto done;
  llama_config cfg;
  experiment_model_config(e, tok_vocab_size(tok), sp.bos, sp.eos, sp.pad, &cfg);
  uint64_t seed = (uint64_t)lcfg_int(&e->cfg, "base.seed");
  if (llama_init(&m, &cfg, tofu_mix_seed(seed, 101), err) != 0) goto done;
  experiment_set_compute(e, &m);
  experiment_set_memory(e, &m);
  rc = stage_train(e, &m, ex, (int)n, "base", "base model", partial, tofu_mix_seed(seed, 102),
                     &fmt, ids.pad, ids.end, err);
  if (rc == 0) rc = save_stage_model(&m, partial, data->dir, out->dir, err);
done:
  if (rc != 0) lethe_err_prefix(err, "base model");
  free(partial);
  llama_free(&m);
  if (ex) tofu_examples_free(ex, n);
  if (tok) tok_free(tok);
  return rc;
}

/* What a fine-tuned stage trains on: the QA of a split (answers only), or
 * documents (texts != NULL: whole-sequence language modelling). */
typedef struct ft_source {
  const char *split;
  char *const *texts;
  size_t n_texts;
} ft_source;

static int build_finetune(const experiment *e, const stage_out *data, const stage_out *base,
                          const ft_source *src, const char *label, long seed_offset,
                          stage_out *out, lethe_err *err);

static int finetune_stage(const experiment *e, const stage_out *data, const stage_out *base,
                          const ft_source *src, long seed_offset, stage_out *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  static const char *const deps[] = {"finetune", "compute"};
  char salt_text[128];
  snprintf(salt_text, sizeof salt_text, "%s/%ld", src->split, seed_offset);
  uint64_t salt = lethe_hash_str(salt_text, base->key);
  for (size_t i = 0; i < src->n_texts; i++) salt = lethe_hash_str(src->texts[i], salt);
  out->key = experiment_key(e, deps, EXPERIMENT_N_PATHS(deps), salt);
  char kind[64];
  snprintf(kind, sizeof kind, "%s%s", src->split, seed_offset ? "-replica" : "");
  out->dir = stage_dir(e, kind, out->key);
  char label[96];
  snprintf(label, sizeof label, "fine-tune on %s", src->split);
  int lock, build = stage_claim(out->dir, label, &lock, err);
  if (build <= 0) return build < 0 ? -1 : (out->reused = 1, 0);
  return stage_release(lock, build_finetune(e, data, base, src, label, seed_offset, out, err), err);
}

int stage_finetune(const experiment *e, const stage_out *data, const stage_out *base,
                   const char *split, long seed_offset, stage_out *out, lethe_err *err) {
  ft_source src = {split, NULL, 0};
  return finetune_stage(e, data, base, &src, seed_offset, out, err);
}

int stage_finetune_texts(const experiment *e, const stage_out *data, const stage_out *base,
                         const char *name, char *const *texts, size_t n, stage_out *out,
                         lethe_err *err) {
  ft_source src = {name, texts, n};
  return finetune_stage(e, data, base, &src, 0, out, err);
}

/* Documents as whole-sequence examples (BOS + text, every token a target). */
static int encode_texts(const tok_tokenizer *tok, const tofu_format *fmt, char *const *texts,
                        size_t n, tofu_example **ex, size_t *n_ex, lethe_err *err) {
  *ex = lethe_calloc(n ? n : 1, sizeof **ex);
  for (*n_ex = 0; *n_ex < n; ++*n_ex)
    if (tofu_encode_text(tok, fmt, texts[*n_ex], &(*ex)[*n_ex], err)) return -1;
  return 0;
}

static int build_finetune(const experiment *e, const stage_out *data, const stage_out *base,
                          const ft_source *src, const char *label, long seed_offset,
                          stage_out *out, lethe_err *err) {
  tok_tokenizer *tok = NULL;
  tofu_example *qa = NULL, *replay = NULL, *all = NULL;
  size_t n_qa = 0, n_replay = 0;
  llama_model m = {0};
  lora_adapter lora = {0}; /* finetune.lora */
  int rc = -1;
  tofu_format fmt;
  experiment_format(e, &fmt);
  char *partial = partial_of(out->dir);
  int failed = stage_tokenizer(base->dir, &tok, err) != 0 || /* the model's own tokenizer */
               (src->texts ? encode_texts(tok, &fmt, src->texts, src->n_texts, &qa, &n_qa, err)
                           : stage_load_examples(data->dir, src->split, tok, &fmt, 0, &qa, &n_qa, err)) != 0 ||
               (lcfg_bool(&e->cfg, "finetune.replay") &&
                stage_load_examples(data->dir, "pretrain", tok, &fmt, 1, &replay, &n_replay, err) != 0) ||
               lethe_mkdir_p(partial, err) != 0 || llama_load(&m, base->dir, err) != 0;
  if (dist_status(failed ? -1 : 0, err) != 0) goto done; /* not one rank alone: the others train */
  experiment_set_compute(e, &m);
  experiment_set_memory(e, &m);
  if (experiment_set_trainable(e, "finetune", &m, err) != 0) goto done; /* checked up front */
  lora_config lc;
  if ((rc = experiment_lora(e, "finetune", &lc, err)) != 0) goto done;
  if (lc.rank > 0) { /* finetune.lora: train an adapter, save the merged model */
    if ((rc = lora_create(&lora, &m.cfg, &lc, err)) != 0) goto done;
    llama_attach_lora(&m, &lora);
  }
  experiment_hold_frozen(e, &m); /* what trains is set: the rest may stay bf16 */
  /* one example array: the split, then the replayed pre-training QA */
  size_t n = n_qa + n_replay;
  all = lethe_calloc(n, sizeof *all);
  memcpy(all, qa, n_qa * sizeof *all);
  if (n_replay) memcpy(all + n_qa, replay, n_replay * sizeof *all);
  tofu_ids ids;
  uint64_t seed = tofu_mix_seed((uint64_t)lcfg_int(&e->cfg, "finetune.seed"), 200 + (uint64_t)seed_offset);
  rc = tofu_format_ids(tok, &fmt, &ids, err);
  if (rc == 0)
    rc = stage_train(e, &m, all, (int)n, "finetune", label, partial, seed, &fmt, ids.pad, ids.end, err);
  llama_release_frozen(&m); /* merging and saving read float32 */
  if (rc == 0 && m.lora) {
    llama_attach_lora(&m, NULL);
    lora_merge(&m, &lora);
  }
  if (rc == 0) rc = save_stage_model(&m, partial, base->dir, out->dir, err);
done:
  if (rc != 0) lethe_err_prefix(err, "%s", label);
  lora_free(&lora);
  free(partial);
  free(all);
  llama_free(&m);
  if (qa) tofu_examples_free(qa, n_qa);
  if (replay) tofu_examples_free(replay, n_replay);
  if (tok) tok_free(tok);
  return rc;
}
