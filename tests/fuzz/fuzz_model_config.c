/* fuzz_model_config — config.json (model/config.c) on arbitrary bytes. A
 * config it accepts must pass validation and survive a write/read round
 * trip unchanged; one it refuses must come with a message. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "model/config.h"

static int same_config(const llama_config *a, const llama_config *b) {
  return a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
         a->intermediate_size == b->intermediate_size &&
         a->num_hidden_layers == b->num_hidden_layers &&
         a->num_attention_heads == b->num_attention_heads &&
         a->num_key_value_heads == b->num_key_value_heads && a->head_dim == b->head_dim &&
         a->max_position_embeddings == b->max_position_embeddings &&
         a->rms_norm_eps == b->rms_norm_eps && a->rope_theta == b->rope_theta &&
         a->tie_word_embeddings == b->tie_word_embeddings && a->bos_token_id == b->bos_token_id &&
         a->eos_token_id == b->eos_token_id && a->pad_token_id == b->pad_token_id &&
         a->initializer_range == b->initializer_range;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("config.json", data, size);
  llama_config cfg;
  lethe_err err = {0};
  if (llama_config_read(&cfg, path, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused config has a message");
  } else {
    FUZZ_CHECK(llama_config_validate(&cfg, "fuzz", &err) == 0, "an accepted config validates");
    char *out = fuzz_path("written.json");
    llama_config again;
    FUZZ_CHECK(llama_config_write(&cfg, out, &err) == 0, "an accepted config can be written");
    FUZZ_CHECK(llama_config_read(&again, out, &err) == 0, "a written config reads back");
    FUZZ_CHECK(same_config(&cfg, &again), "write/read round trip keeps every field");
    free(out);
  }
  free(path);
  return 0;
}
