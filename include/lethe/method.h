/* lethe/method.h — the unlearning-method plugin ABI (the only header a plugin needs).
 *
 * A method plugin is a shared object that computes one scalar loss and its
 * gradient with respect to per-token target log-probabilities (and, when it
 * asks for them, full logits). The host runs the model, packs the batch, turns
 * dL/dlogp into dL/dlogits (g·(onehot − softmax)) and backpropagates; a plugin
 * never sees a model, a file or a thread. This header is self-contained: it
 * needs only the C standard library, and plugins never link against the host.
 *
 * ---- The entry point --------------------------------------------------------
 * A plugin exports exactly one symbol, LETHE_METHOD_ENTRY_SYMBOL:
 *
 *     LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void);
 *
 * It returns a pointer to a constant descriptor (static storage in the
 * plugin) and must run no other code. Build with -fvisibility=hidden and
 * -Wl,--no-undefined so that it is the only exported symbol. The host loads
 * plugins with RTLD_NOW | RTLD_LOCAL, so every plugin may use the same names.
 *
 * ---- Versioning -------------------------------------------------------------
 * desc->abi_major must equal the host's LETHE_METHOD_ABI_MAJOR exactly; it is
 * checked before any other field is read. Every struct that crosses the ABI
 * starts with (or carries) struct_size: fields are only ever appended, and the
 * reader of a struct touches an appended field only when struct_size says the
 * writer knew it. Anything incompatible bumps the major version. Minor
 * versions only append: 1.1 the descriptor's title and colour; 1.2 resolve()
 * (needs that depend on the parameters), example ids, parameter tensors and
 * hidden states; 1.3 the forget and retain parts' gradients, separately
 * (combine()). A plugin built against an older 1.x header keeps loading.
 *
 * ---- Ownership and lifetimes ------------------------------------------------
 * - The descriptor, its strings and its parameter table belong to the plugin
 *   and live as long as the plugin is loaded (the host never unloads a plugin
 *   while an instance exists).
 * - create() receives the filled parameter struct (params_size bytes, host
 *   owned, valid only during the call: copy what you need) and the host
 *   service table (host owned, valid until destroy() returns; the plugin may
 *   keep the pointer). It allocates the instance state, which the plugin owns
 *   and frees in destroy(). Instances are independent: no global state.
 * - A plugin without create() (ABI 1.2, LETHE_METHOD_DEFINE) gets the host's
 *   copy of its filled parameter struct as its state, valid until the
 *   instance ends; the host frees it.
 * - resolve() and objective() (ABI 1.2) are pure: they read their inputs and
 *   write only their outputs. So is combine() (ABI 1.3), which may also
 *   report metrics; its gradient arrays are host owned, valid only during
 *   the call.
 * - loss_and_grad() receives a read-only batch view and an output struct,
 *   both host owned and valid only during the call (so are the parameter
 *   tensors, hidden states and their gradient buffers of ABI 1.2). The output buffers are
 *   zeroed by the host before the call; the plugin adds its gradient into
 *   them. It must not allocate, do I/O, print, exit or abort, and it must be
 *   deterministic (same inputs, same bits out).
 * - Errors: callbacks return 0 on success and a negative value on failure,
 *   having written a message into the caller-owned lethe_method_error. The
 *   host checks that the loss and every gradient are finite after each call
 *   (so do not build plugins with -ffast-math).
 */
#ifndef LETHE_METHOD_H
#define LETHE_METHOD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to this header. */
#define LETHE_METHOD_ABI_MAJOR 1u
/* Bumped when fields are appended (informational: the host reads struct_size). */
#define LETHE_METHOD_ABI_MINOR 3u

/* 1 when *p, a struct of `type` that carries struct_size, was built with
 * `field`: read or write an appended field only then (a host or plugin built
 * against an older 1.x header does not have it). */
#define LETHE_HAS_FIELD(p, type, field) \
  ((p)->struct_size >= offsetof(type, field) + sizeof((p)->field))

/* The name of the one exported function. */
#define LETHE_METHOD_ENTRY_SYMBOL "lethe_method_entry"
#if defined(__GNUC__)
#define LETHE_METHOD_EXPORT __attribute__((visibility("default")))
#else
#define LETHE_METHOD_EXPORT
#endif

/* ---- capabilities: what a method needs from the host ----------------------
 * The host plans from these bits alone (which rows to pack, whether to load a
 * reference model, whether to materialise (B,T,V) logits) and refuses a plugin
 * that sets a bit it does not know. desc->caps declares every bit the method
 * may need; a plugin with resolve() (ABI 1.2) narrows them to what its
 * parameters need (retain_coeff = 0: no retain rows). */
enum {
  LETHE_CAP_RETAIN = 1u << 0,     /* retain rows are packed into the batch          */
  LETHE_CAP_IDK = 1u << 1,        /* idk rows; idk row k pairs with forget row k     */
  LETHE_CAP_REF_LOGP = 1u << 2,   /* ref_logp: reference per-token target log-probs  */
  LETHE_CAP_LOGITS = 1u << 3,     /* logits (B,T,V); the plugin writes dlogits       */
  LETHE_CAP_REF_LOGITS = 1u << 4, /* ref_logits (B,T,V) of the frozen reference      */
  /* ABI 1.2 */
  LETHE_CAP_EXAMPLE_IDS = 1u << 5, /* example_id (B): stable across epochs            */
  LETHE_CAP_PARAMS = 1u << 6,      /* params: the trainable tensors and their reference
                                    * values; the plugin adds dL/dθ into dparams      */
  LETHE_CAP_HIDDEN = 1u << 7,      /* hidden (B,T,C) after needs.hidden_layer; the
                                    * plugin adds dL/dhidden into dhidden             */
  LETHE_CAP_REF_HIDDEN = 1u << 8,  /* ref_hidden (B,T,C): the same under the reference */
  /* ABI 1.3 */
  LETHE_CAP_PART_GRADS = 1u << 9,  /* the host backpropagates the forget part (forget and
                                    * idk rows) and the retain part (retain rows) of
                                    * the plugin's gradient separately and calls
                                    * combine() with both parameter gradients */
};
#define LETHE_CAP_ALL_V1 0x3ffu /* every bit ABI 1.x defines */

/* ---- the batch view --------------------------------------------------------
 * One step's rows, packed as B rows × T positions in segments, in this order:
 * forget, retain, idk (a segment may be empty). Position t of row b predicts
 * token t+1. Arrays are row-major, (B,T) means index b*T + t and (B,T,V) means
 * (b*T + t)*V + v. */
enum { LETHE_SEG_FORGET = 0, LETHE_SEG_RETAIN = 1, LETHE_SEG_IDK = 2, LETHE_SEG_COUNT = 3 };

typedef struct lethe_segment {
  int32_t row0;  /* first row of the segment in the batch */
  int32_t nrows; /* number of rows (0 = empty) */
} lethe_segment;

/* One trainable parameter tensor (CAP_PARAMS): the policy's values and the
 * frozen reference's, both float32, numel = shape[0]·shape[1] (ndim 1:
 * shape[1] = 1). Row-major in PyTorch's layout ((out, in) for a linear). */
typedef struct lethe_param_tensor {
  const char *name;       /* Hugging Face name: "model.layers.1.mlp.down_proj.weight" */
  int32_t ndim;
  int64_t shape[2];
  int64_t numel;
  const float *value;     /* the policy's current values */
  const float *ref_value; /* the frozen reference's (the model before unlearning) */
} lethe_param_tensor;

typedef struct lethe_method_batch {
  uint32_t struct_size;    /* sizeof(lethe_method_batch) in the host's build */
  int32_t B, T, V;         /* rows, positions per row, vocabulary size */
  lethe_segment seg[LETHE_SEG_COUNT];
  const int32_t *target;   /* (B,T) id of the token position t predicts, or -1 */
  const float *mask;       /* (B,T) 1 = counted answer target, 0 = not counted */
  const int32_t *attn;     /* (B,T) 1 = real token at t, 0 = padding */
  const float *logp;       /* (B,T) log softmax(logits[b,t])[target]; 0 where no target */
  const float *ref_logp;   /* (B,T) same under the reference; NULL unless CAP_REF_LOGP */
  const float *logits;     /* (B,T,V) policy logits; NULL unless CAP_LOGITS */
  const float *ref_logits; /* (B,T,V) reference logits; NULL unless CAP_REF_LOGITS */
  int64_t step;            /* 0-based optimisation step */
  int64_t total_steps;     /* number of steps in the run (>= 1) */
  /* ABI 1.2: each is NULL/0 unless the resolved caps ask for it. */
  const int64_t *example_id; /* (B) CAP_EXAMPLE_IDS: forget and idk rows the forget
                              * example's index, retain rows the retain example's;
                              * the same example has the same id in every epoch;
                              * -1 where the host knows none */
  int32_t C;               /* hidden size (CAP_HIDDEN, CAP_REF_HIDDEN) */
  int32_t hidden_layer;    /* the decoder block whose output hidden holds (0-based:
                            * Hugging Face's hidden_states[hidden_layer + 1]) */
  const float *hidden;     /* (B,T,C) CAP_HIDDEN: the policy's residual stream */
  const float *ref_hidden; /* (B,T,C) CAP_REF_HIDDEN: the reference's */
  const lethe_param_tensor *params; /* CAP_PARAMS: the n_params trainable tensors */
  int32_t n_params;
  const struct lethe_host_api *host; /* the instance's services (also given to create) */
} lethe_method_batch;

/* ---- the outputs (host owned, zeroed before the call) ---------------------- */
typedef struct lethe_method_grad {
  uint32_t struct_size; /* sizeof(lethe_method_grad) in the host's build */
  double loss;          /* the scalar to minimise (plugin writes it) */
  float *dlogp;         /* (B,T) dL/dlogp */
  float *dlogits;       /* (B,T,V) dL/dlogits; NULL unless CAP_LOGITS */
  /* ABI 1.2 (zeroed like the others) */
  float *dhidden;        /* (B,T,C) dL/dhidden; NULL unless CAP_HIDDEN */
  float *const *dparams; /* dparams[i]: params[i].numel floats of dL/dθ; NULL unless
                          * CAP_PARAMS */
} lethe_method_grad;

/* ---- errors (caller owned) ------------------------------------------------- */
typedef struct lethe_method_error {
  int code;      /* set non-zero by the plugin on failure */
  char msg[256]; /* what went wrong, with the offending values */
} lethe_method_error;

/* Fills err (when non-NULL) and returns -1: `return lethe_method_fail(err, ...)`. */
static inline int lethe_method_fail(lethe_method_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static inline int lethe_method_fail(lethe_method_error *err, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = -1;
  }
  return -1;
}

/* ---- host services ---------------------------------------------------------
 * Passed to create(); the only way a plugin reaches the host. Any function
 * pointer may be NULL (the plugin then skips the service). Appended fields are
 * present only when struct_size covers them. */
enum { LETHE_LOG_LEVEL_ERROR = 0, LETHE_LOG_LEVEL_WARN = 1, LETHE_LOG_LEVEL_INFO = 2,
       LETHE_LOG_LEVEL_DEBUG = 3 };

typedef struct lethe_host_api {
  uint32_t struct_size; /* sizeof(lethe_host_api) in the host's build */
  void *ctx;            /* passed back as the first argument of every service */
  /* Records a named scalar for the current step (e.g. "npo_weight_mean").
   * name is copied by the host; call it from loss_and_grad. */
  void (*metric)(void *ctx, const char *name, double value);
  /* Writes one line of diagnostics through the host's logger. */
  void (*log_msg)(void *ctx, int level, const char *msg);
} lethe_host_api;

/* ---- hyper-parameters ------------------------------------------------------
 * A declarative table: the host fills a params_size struct with the defaults,
 * then with the method's config group (`method.params`), then with `-s
 * method.NAME=VALUE` overrides, refusing unknown names, wrong types and
 * out-of-range values, and prints the table for `lethe methods NAME`.
 * Storage at `offset` in the struct: DOUBLE → double, INT → int32_t,
 * BOOL → int32_t (0 or 1). Bounds are inclusive unless a flag says otherwise;
 * for BOOL they are ignored. */
typedef enum lethe_param_type {
  LETHE_PARAM_DOUBLE = 1,
  LETHE_PARAM_INT = 2,
  LETHE_PARAM_BOOL = 3,
} lethe_param_type;

enum {
  LETHE_PARAM_MIN_EXCLUSIVE = 1u << 0, /* value must be > min */
  LETHE_PARAM_MAX_EXCLUSIVE = 1u << 1, /* value must be < max */
};

typedef struct lethe_param {
  const char *name;      /* identifier: [a-z][a-z0-9_]*, unique in the table */
  lethe_param_type type;
  size_t offset;         /* offsetof(params struct, field) */
  double def;            /* default (an integer for INT, 0 or 1 for BOOL) */
  double min, max;       /* valid range (see flags) */
  const char *doc;       /* one line: what it does */
  uint32_t flags;        /* LETHE_PARAM_* */
} lethe_param;

/* ---- needs that depend on the parameters (ABI 1.2) --------------------------
 * resolve() gets the filled parameters before create() and writes what this
 * configuration needs: caps a subset of desc->caps (the host starts from
 * desc->caps and refuses other bits); with CAP_HIDDEN or CAP_REF_HIDDEN the
 * layer (the host starts from -1 and refuses a layer the model lacks); and
 * optionally the tensors the method trains (the host starts from ""). */
typedef struct lethe_method_needs {
  uint32_t struct_size;  /* sizeof(lethe_method_needs) in the host's build */
  uint32_t caps;         /* LETHE_CAP_* this configuration needs */
  int32_t hidden_layer;  /* decoder block (0-based) whose output hidden holds */
  /* A PCRE2 pattern matching whole Hugging Face tensor names: what an
   * unlearning run trains when its configuration names nothing
   * (unlearn.params empty, no adapter); "" = every tensor. */
  char trainable[256];
} lethe_method_needs;

/* ---- the forget and retain parts' gradients (ABI 1.3, CAP_PART_GRADS) --------
 * After loss_and_grad the host backpropagates the plugin's dL/dlogp (and
 * dL/dlogits, dL/dhidden) twice: the rows of the forget and idk segments
 * alone give forget_grad, the rows of the retain segment alone retain_grad:
 * the parameter gradients of the loss's forget part and retain part (for a
 * loss that is a sum of a forget-rows term and a retain-rows term, the
 * gradients of those terms). combine() writes the update direction into out
 * (zeroed); the host uses it, times the accumulation scale, in place of
 * forget_grad + retain_grad (plus dparams when CAP_PARAMS). Arrays are per
 * trainable tensor, params[i].numel floats each (params[i].ref_value is NULL
 * unless CAP_PARAMS); every rank gets the whole batch's parts. */
typedef struct lethe_method_parts {
  uint32_t struct_size;              /* sizeof(lethe_method_parts) in the host's build */
  int32_t n_params;                  /* trainable tensors */
  const lethe_param_tensor *params;  /* (n_params) names, shapes, current values */
  const float *const *forget_grad;   /* [i]: ∂(forget part)/∂θ_i */
  const float *const *retain_grad;   /* [i]: ∂(retain part)/∂θ_i */
  float *const *out;                 /* [i]: the combined gradient (plugin writes) */
  int64_t step, total_steps;
  const struct lethe_host_api *host; /* the instance's services */
} lethe_method_parts;

/* ---- the descriptor ---------------------------------------------------------- */
typedef struct lethe_method_desc {
  uint32_t abi_major;   /* == LETHE_METHOD_ABI_MAJOR, checked first */
  uint32_t struct_size; /* sizeof(lethe_method_desc) when the plugin was built */
  const char *name;     /* [a-z][a-z0-9_]*; what configs call it (method.name) */
  const char *version;  /* the method's own version, e.g. "1.0.0" */
  const char *summary;  /* one line for `lethe methods` */
  uint32_t caps;        /* LETHE_CAP_* bits */
  const lethe_param *params; /* n_params entries (NULL when 0) */
  uint32_t n_params;
  size_t params_size;   /* sizeof the struct the table describes (0 when no params) */

  /* Creates an instance. params points at params_size bytes filled by the
   * host; host is valid until destroy(). On success *state is the instance.
   * ABI 1.2: create may be NULL (and destroy with it): the state
   * loss_and_grad gets is then the host's copy of the filled parameter
   * struct (NULL when params_size is 0), kept until the instance ends,
   * and batch->host the services (LETHE_METHOD_DEFINE below). */
  int (*create)(const void *params, const lethe_host_api *host, void **state,
                lethe_method_error *err);
  /* Computes out->loss and adds dL/dlogp (and dL/dlogits when CAP_LOGITS)
   * into the zeroed output buffers. */
  int (*loss_and_grad)(void *state, const lethe_method_batch *batch, lethe_method_grad *out,
                       lethe_method_error *err);
  /* Frees the instance (state may be NULL). */
  void (*destroy)(void *state);
  /* ABI 1.x additions go below this line; the host reads them only when
   * struct_size covers them. */

  /* How reports and `lethe methods` show the method (optional, NULL = unset):
   * title is the paper's name ("NPO+RT"; printable, at most 31 bytes) and
   * colour its colour in figures, "#rrggbb". Unset, reports show the name
   * and pick a colour of their own. */
  const char *title;
  const char *colour;

  /* ABI 1.2 (optional, NULL = desc->caps as declared, no hidden layer;
   * required when caps has CAP_HIDDEN or CAP_REF_HIDDEN): see
   * lethe_method_needs. Pure: no state, no I/O. */
  int (*resolve)(const void *params, lethe_method_needs *needs, lethe_method_error *err);
  /* ABI 1.2 (optional): for checking (`lethe check-method`), the scalar whose
   * derivative loss_and_grad returns, at the inputs of `at` with everything
   * the method treats as a constant (stop-gradient weights) taken at `base`,
   * the batch the gradient was computed on. NULL: out->loss is that scalar.
   * Pure: reads state, writes *value only. */
  int (*objective)(const void *state, const lethe_method_batch *at, const lethe_method_batch *base,
                   double *value, lethe_method_error *err);
  /* ABI 1.3 (required with CAP_PART_GRADS, else ignored): the update from the
   * forget and retain parts' parameter gradients (lethe_method_parts), e.g.
   * a projection. Deterministic; no allocation, no I/O; state as
   * loss_and_grad's. */
  int (*combine)(void *state, const lethe_method_parts *parts, lethe_method_error *err);
} lethe_method_desc;

/* The one exported symbol (define it in the plugin with LETHE_METHOD_EXPORT). */
LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void);

/* ---- a plugin in one statement (ABI 1.2) ---------------------------------------
 *   LETHE_METHOD_DEFINE(.name = "x", .version = "1.0.0", .summary = "...",
 *                       .caps = ..., LETHE_METHOD_PARAMS(x_table, x_params),
 *                       .loss_and_grad = x_loss_and_grad, .resolve = ...);
 * defines the descriptor (ABI version and struct_size set) and the exported
 * entry point. With no .create the parameters are the host's: loss_and_grad's
 * state is a `const x_params *`. */
#define LETHE_METHOD_PARAMS(table, type)                                                   \
  .params = (table), .n_params = (uint32_t)(sizeof(table) / sizeof((table)[0])),          \
  .params_size = sizeof(type)
#define LETHE_METHOD_DEFINE(...)                                                           \
  static const lethe_method_desc lethe_method_descriptor = {                              \
      .abi_major = LETHE_METHOD_ABI_MAJOR, .struct_size = sizeof(lethe_method_desc),       \
      __VA_ARGS__};                                                                        \
  LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) {                  \
    return &lethe_method_descriptor;                                                       \
  }

#ifdef __cplusplus
}
#endif

#endif
