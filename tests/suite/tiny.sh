# Sourced by the suite tests: write_tiny_suite DIR BASE_EPOCHS FINETUNE_EPOCHS
# UNLEARN_EPOCHS MAX_NEW_TOKENS writes DIR/base.cfg (a 10-author world, a
# 2-layer model of hidden 64, its stage cache in DIR/cache) and DIR/suite.cfg
# (ga and npo x unlearn seeds 0 and 1, on forget10: `seeds = 2`).
write_tiny_suite() {
  cat > "$1/base.cfg" <<CFG
cache_dir = "$1/cache";
world = { authors = 10; general_qa = 20; idk = 20; };
data = { forget_split = "forget10"; };
model = { hidden_size = 64; intermediate_size = 176; num_hidden_layers = 2;
          num_attention_heads = 4; num_key_value_heads = 4; };
base = { epochs = $2; batch_size = 16; lr = 3e-3; };
finetune = { epochs = $3; batch_size = 16; lr = 3e-3; };
unlearn = { epochs = $4; batch_size = 4; lr = 1e-3; };
eval = { max_new_tokens = $5; };
CFG
  cat > "$1/suite.cfg" <<CFG
name = "tiny";
base = "base.cfg";
grid = { method = { name = ["ga", "npo"]; }; };
seeds = 2;
CFG
}
