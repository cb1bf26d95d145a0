# torch_blas.sh — sourced by the benchmarks that time a PyTorch twin
# (run.sh, e2e.sh, realsize.sh). require_real_blas PYTHON THREADS NAME exits
# with status 2 unless PyTorch's float32 matmuls run on a real BLAS: Debian's
# torch links the generic libblas.so.3, and with only the reference libblas3
# behind it they run at ~3-6 GFLOP/s (seen on a fresh machine where apt
# pulled no OpenBLAS), which makes every ratio against the twin 20-50x and
# meaningless (docs/performance.md, "Reproduce").
require_real_blas() {
  local python=$1 threads=$2 name=$3 gflops
  gflops=$(OPENBLAS_NUM_THREADS=$threads "$python" -c "
import time, torch
torch.set_num_threads(1)
a, w = torch.randn(1024, 576), torch.randn(1536, 576)
for _ in range(3): a @ w.t()
t = time.perf_counter()
for _ in range(10): a @ w.t()
print(int(2 * 1024 * 576 * 1536 * 10 / (time.perf_counter() - t) / 1e9))")
  if [ "${gflops:-0}" -lt 15 ]; then
    echo "$name: PyTorch multiplies at ${gflops:-?} GFLOP/s: the reference BLAS; apt-get install libopenblas0-pthread" >&2
    exit 2
  fi
}
