/* fuzz_lora_config — adapter_config.json (model/lora_io.c) on arbitrary
 * bytes, for a small llama model. A config it accepts must make an adapter
 * that is saved and loaded back with the same settings and weights; one it
 * refuses must come with a message. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "model/lora.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llama_config mc;
  llama_config_defaults(&mc);
  mc.vocab_size = 11, mc.hidden_size = 8, mc.intermediate_size = 12, mc.num_hidden_layers = 2;
  mc.num_attention_heads = 2, mc.num_key_value_heads = 1, mc.head_dim = 4;
  lora_config cfg;
  lethe_err err = {0};
  if (lora_config_parse(&cfg, &mc, (const char *)data, size, "adapter_config.json", &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused adapter config has a message");
    return 0;
  }
  lora_adapter lo, back;
  FUZZ_CHECK(lora_create(&lo, &mc, &cfg, &err) == 0, "an accepted config makes an adapter");
  char *dir = fuzz_path("adapter");
  FUZZ_CHECK(lora_save(&lo, &mc, dir, NULL, &err) == 0, "an adapter can be saved");
  FUZZ_CHECK(lora_load(&back, &mc, dir, &err) == 0, "a saved adapter loads");
  FUZZ_CHECK(back.cfg.rank == lo.cfg.rank && back.cfg.alpha == lo.cfg.alpha &&
                 back.cfg.dropout == lo.cfg.dropout && back.cfg.targets == lo.cfg.targets &&
                 back.cfg.use_rslora == lo.cfg.use_rslora,
             "save/load keeps every setting");
  FUZZ_CHECK(!memcmp(back.params, lo.params, lo.n_params * sizeof(float)),
             "save/load keeps the weights");
  lora_free(&back);
  lora_free(&lo);
  free(dir);
  return 0;
}
