#!/usr/bin/env python3
"""PyTorch anchor for `./gptneo bench train-step` (issue 7).

A self-contained GPT-Neo in plain PyTorch (no transformers package), shaped from a HF config.json
(default: the 125M config), random weights, LoRA r=8 (alpha 16, dropout 0.05) on q_proj and v_proj with the base
frozen, a score head [1, H] on the last token, the single-response Safe-RLHF cost loss -mean(log sigmoid(s * c)),
global-norm clipping at 1.0 and AdamW (lr 1e-5, weight decay 0.05) over the LoRA matrices + score head.

Attention follows HF GPTNeoSelfAttention (transformers 4.x): no 1/sqrt(d) scaling, scores in float32, a dense
T x T causal mask for global layers and a causal band of `window_size` keys (dense T x T, masked) for local ones,
masked scores set to finfo(float32).min, softmax, then out_proj with bias. gelu_new (tanh form). Pre-LN blocks.

Modes (one per process, so ru_maxrss is the peak of that mode alone):
  --mode forward   cost forward under torch.no_grad() at B, T
  --mode lm        HF-style causal-LM forward under torch.no_grad(): final hidden states and logits at every position
                   (LM head tied to wte), as `./gptneo bench forward` measures it (issue 4)
  --mode train     full step: forward, loss, backward, clip, AdamW step, zero_grad
Without --mode it runs the three issue-7 cases (forward B=2,T=256; train B=2,T=256; train B=1,T=1024), each in a
fresh subprocess of itself, and prints one JSON object with a list of results.

With --lockstep (and a --mode) the timed steps are run one at a time when the parent asks for them, so that they
alternate with our own steps (`./gptneo bench train-step --interleave N`); asked for a peak, the process measures its
2048^3 product peak at that moment (the pair's MFU is taken against the peaks measured around the pair's steps).

Output: JSON on stdout (one line per invocation).
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "models",
                              "gpt-neo-125M", "config.json")


def build(cfg, seed, lora_r, lora_alpha, lora_dropout):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    H = cfg["hidden_size"]
    nh = cfg["num_heads"]
    V = cfg["vocab_size"]
    P = cfg["max_position_embeddings"]
    inter = cfg.get("intermediate_size") or 4 * H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    window = cfg["window_size"]
    layers = cfg["attention_layers"]
    std = cfg.get("initializer_range", 0.02)

    class LoraLinear(nn.Module):
        """Frozen y = x W^T (+ b) plus (dropout(x) A^T) B^T * alpha/r with trainable A [r, in], B [out, r] (B = 0)."""

        def __init__(self, fin, fout, bias, lora):
            super().__init__()
            self.base = nn.Linear(fin, fout, bias=bias)
            nn.init.normal_(self.base.weight, 0.0, std)
            if bias:
                nn.init.zeros_(self.base.bias)
            for p in self.base.parameters():
                p.requires_grad_(False)
            self.lora = lora
            if lora:
                self.A = nn.Parameter(torch.empty(lora_r, fin))
                nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
                self.B = nn.Parameter(torch.zeros(fout, lora_r))
                self.drop = nn.Dropout(lora_dropout)
                self.scaling = lora_alpha / lora_r

        def forward(self, x):
            y = self.base(x)
            if self.lora:
                y = y + F.linear(F.linear(self.drop(x), self.A), self.B) * self.scaling
            return y

    class SelfAttention(nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.q_proj = LoraLinear(H, H, False, True)
            self.k_proj = LoraLinear(H, H, False, False)
            self.v_proj = LoraLinear(H, H, False, True)
            self.out_proj = LoraLinear(H, H, True, False)
            self.local = kind == "local"
            self.hd = H // nh

        def split(self, t, b, T):
            return t.view(b, T, nh, self.hd).permute(0, 2, 1, 3)

        def forward(self, x, causal):
            b, T, _ = x.shape
            q = self.split(self.q_proj(x), b, T).float()
            k = self.split(self.k_proj(x), b, T).float()
            v = self.split(self.v_proj(x), b, T)
            w = torch.matmul(q, k.transpose(-1, -2))                      # no scaling in GPT-Neo
            w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min, dtype=w.dtype))
            w = torch.softmax(w, dim=-1).to(v.dtype)
            y = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(b, T, H)
            return self.out_proj(y)

    class Block(nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.ln_1 = nn.LayerNorm(H, eps=eps)
            self.attn = SelfAttention(kind)
            self.ln_2 = nn.LayerNorm(H, eps=eps)
            self.c_fc = LoraLinear(H, inter, True, False)
            self.c_proj = LoraLinear(inter, H, True, False)
            for p in list(self.ln_1.parameters()) + list(self.ln_2.parameters()):
                p.requires_grad_(False)

        def forward(self, x, masks):
            x = x + self.attn(self.ln_1(x), masks[1] if self.attn.local else masks[0])
            h = self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))   # gelu_new
            return x + h

    class CostModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, H)
            self.wpe = nn.Embedding(P, H)
            nn.init.normal_(self.wte.weight, 0.0, std)
            nn.init.normal_(self.wpe.weight, 0.0, std)
            self.h = nn.ModuleList([Block(k) for k in layers])
            self.ln_f = nn.LayerNorm(H, eps=eps)
            for p in list(self.wte.parameters()) + list(self.wpe.parameters()) + list(self.ln_f.parameters()):
                p.requires_grad_(False)
            self.score = nn.Linear(H, 1, bias=False)      # trainable head (PEFT modules_to_save)
            nn.init.normal_(self.score.weight, 0.0, std)

        def forward(self, ids, lm=False):
            b, T = ids.shape
            pos = torch.arange(T, device=ids.device).unsqueeze(0)
            i = torch.arange(T).view(T, 1)
            j = torch.arange(T).view(1, T)
            glob = (j <= i).view(1, 1, T, T)
            loc = ((j <= i) & (i - j < window)).view(1, 1, T, T)
            x = self.wte(ids) + self.wpe(pos)
            for blk in self.h:
                x = blk(x, (glob, loc))
            x = self.ln_f(x)
            if lm:
                return x, F.linear(x, self.wte.weight)     # hidden [B, T, H], logits [B, T, V] (tied head)
            return self.score(x[:, -1, :]).squeeze(-1)     # cost at the last token (no padding here)

    torch.manual_seed(seed)
    return CostModel()


def run_mode(args):
    import torch

    torch.set_num_threads(args.threads)
    with open(args.config) as f:
        cfg = json.load(f)
    model = build(cfg, args.seed, args.lora_r, args.lora_alpha, args.lora_dropout)
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    n_all = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(0, cfg["vocab_size"], (args.batch, args.seq), generator=g)
    is_safe = torch.tensor([(i % 2) == 0 for i in range(args.batch)])
    sign = torch.where(is_safe, -1.0, 1.0)
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.999), eps=1e-8)

    def train_step():
        model.train()
        costs = model(ids)
        loss = -torch.nn.functional.logsigmoid(sign * costs).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    def forward():
        model.eval()
        with torch.no_grad():
            return float(model(ids).sum())

    def lm_forward():
        model.eval()
        with torch.no_grad():
            hidden, logits = model(ids, lm=True)
            assert logits.shape[-1] == cfg["vocab_size"]
            return float(hidden[0, 0, 0])

    if args.mode == "forward":  # scoring a trained adapter: LoRA folded into the weights, as PEFT's merge_and_unload
        with torch.no_grad():
            for mod in model.modules():
                if getattr(mod, "lora", False):
                    mod.base.weight += (mod.B @ mod.A) * mod.scaling
                    mod.lora = False
    fn = {"train": train_step, "forward": forward, "lm": lm_forward}[args.mode]
    if args.precision == "bf16":        # the products in bf16 with fp32 accumulation, as torch's CPU autocast does
        inner = fn

        def fn():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return inner()
    for _ in range(args.warmup):
        fn()
    times = []

    def timed():
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        return times[-1]

    if args.lockstep:   # the parent asks for each step (bench Lockstep): READY, then "step" -> "STEP <s>",
        # "peak" -> "PEAK <GFLOP/s>" (this moment's 2048^3 product peak, beside the steps), "done"
        print("READY", flush=True)
        for line in sys.stdin:
            request = line.strip()
            if request == "peak":
                print("PEAK %r" % sgemm_peak(args.threads, args.precision, reps=PAIR_PEAK_REPS)["gflops"], flush=True)
                continue
            if request != "step":
                break
            print("STEP %r" % timed(), flush=True)
        if not times:
            raise SystemExit("lockstep: the parent asked for no timed step")
    else:
        for _ in range(args.reps):
            timed()
    tokens = args.batch * args.seq
    med = statistics.median(times)
    return {
        "impl": "torch", "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        "blas": blas_name(torch), **blas_core(torch), "precision": args.precision, "mode": args.mode, "batch": args.batch, "seq": args.seq,
        "lora_in_forward": "merged into the weights" if args.mode == "forward" else "-",
        "warmup": args.warmup, "reps": len(times), "lockstep": args.lockstep, "step_s": times, "median_s": med, "best_s": min(times),
        "tokens_per_s": tokens / med, "tokens_per_s_best": tokens / min(times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "trainable_params": n_trainable, "all_params": n_all,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_avg": os.getloadavg(),
    }


def blas_name(torch):
    """The BLAS library actually mapped into this process (Debian's torch uses the libblas.so.3 alternative)."""
    a = torch.randn(8, 8)
    torch.mm(a, a)
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({l.split()[-1] for l in f if "blas" in l.lower() and l.strip().endswith(".so") or ".so." in l and "blas" in l.lower()})
        return ",".join(os.path.basename(x) for x in libs) or "unknown"
    except OSError:
        return "unknown"


def blas_core(torch):
    """OpenBLAS's kernel set in this process (openblas_get_corename of the mapped library), and the requested one."""
    blas_name(torch)
    core = "no OpenBLAS mapped"
    try:
        import ctypes
        with open("/proc/self/maps") as f:
            paths = sorted({l.split()[-1] for l in f if "openblas" in l.lower() and ".so" in l})
        for path in paths:
            lib = ctypes.CDLL(path)
            if hasattr(lib, "openblas_get_corename"):
                lib.openblas_get_corename.restype = ctypes.c_char_p
                core = lib.openblas_get_corename().decode()
                break
    except OSError:
        pass
    return {"blas_core": core, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(unset)")}


# timed 2048^3 products per lockstep peak (after one untimed one), as the Java side's TrainStepBench.PAIR_PEAK_REPS
PAIR_PEAK_REPS = 4


def sgemm_peak(threads, precision="fp32", n=2048, reps=10):
    """Best of reps n^3 products: fp32 sgemm, or (bf16) the product of bf16 operands as autocast runs it."""
    import torch
    torch.set_num_threads(threads)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(reps))
    return {"n": n, "precision": precision, "best_s": best, "gflops": 2.0 * n ** 3 / best / 1e9, **blas_core(torch)}


def _timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=DEFAULT_CONFIG)
    ap.add_argument("--mode", choices=["forward", "train", "lm", "sgemm"])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: run the step under torch.autocast('cpu', dtype=torch.bfloat16)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--lora-alpha", type=float, default=16.0)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--quick", action="store_true", help="1 warmup, 2 reps per case")
    ap.add_argument("--lockstep", action="store_true",
                    help="after the warm-up print READY, then run one timed step per 'step' line on stdin, printing "
                         "'STEP <seconds>', until any other line or end of input (--reps is ignored)")
    args = ap.parse_args()
    if args.quick:
        args.warmup, args.reps = 1, 2
    if args.mode == "sgemm":
        print(json.dumps({"impl": "torch", "mode": "sgemm", **sgemm_peak(args.threads, args.precision)}))
        return
    if args.mode:
        print(json.dumps(run_mode(args)))
        return
    results = []
    for mode, b, t in (("forward", 2, 256), ("train", 2, 256), ("train", 1, 1024)):
        cmd = [sys.executable, os.path.abspath(__file__), "--config", args.config, "--mode", mode, "--batch", str(b),
               "--seq", str(t), "--warmup", str(args.warmup), "--reps", str(args.reps), "--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
