#!/usr/bin/env python3
"""PyTorch eager training-step time on a GPU: the same models, batches, optimizer and timing as
bench_gpu_step (nabla), printed in the same JSON-lines format so compare.py can join them.

Step = forward + cross-entropy + backward + SGD(lr 0.01, momentum 0.9) step, bracketed by
torch.cuda.synchronize(). TF32 is off unless --tf32 1 (nabla's default is off too); cuDNN
autotuning (benchmark mode) stays at PyTorch's default (off). Peak memory is
torch.cuda.max_memory_allocated() from an empty cache, model construction included.

usage: torch_step.py [--models mlp,cnn,resnet18] [--batches 64,128,512] [--steps 50]
                     [--warmup 10] [--tf32 0] [--cudnn-benchmark 0] [--layers 0] [--profile 0] [--out FILE]
"""
import argparse
import json
import sys
import time


def emit(obj, out):
    line = json.dumps(obj)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def build_models(nn):
    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            h = nn.functional.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            return nn.functional.relu(h + (self.down(x) if self.down is not None else x))

    class ResNet18(nn.Module):
        """CIFAR-style ResNet-18 (3x3 stem, no max-pool), as bench_gpu_step.cpp's."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 64, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(64)
            blocks, cin = [], 64
            for cout in (64, 128, 256, 512):
                for b in range(2):
                    blocks.append(BasicBlock(cin, cout, 2 if (b == 0 and cout != 64) else 1))
                    cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(512, 10)

        def forward(self, x):
            h = self.blocks(nn.functional.relu(self.bn(self.stem(x))))
            return self.fc(h.mean(dim=(2, 3)))

    def mlp():
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))

    def cnn():
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))

    return {"mlp": mlp, "cnn": cnn, "resnet18": ResNet18}


def input_shape(model, batch):
    return {"mlp": (batch, 784), "cnn": (batch, 1, 28, 28)}.get(model, (batch, 3, 32, 32))


def resnet_layers(torch, nn, B, dev):
    """ResNet-18's distinct layers, as bench_gpu_step.cpp's resnet_layers (same names and shapes):
    (name, input shape, forward, parameters)."""
    F = nn.functional
    out = []

    def module(name, shape, m):
        m = m.to(dev).train()
        out.append((name, shape, m, list(m.parameters())))

    for cin, cout, k, s, hw in [(3, 64, 3, 1, 32), (64, 64, 3, 1, 32), (64, 128, 3, 2, 32), (64, 128, 1, 2, 32),
                                (128, 128, 3, 1, 16), (128, 256, 3, 2, 16), (256, 256, 3, 1, 8), (256, 512, 3, 2, 8),
                                (512, 512, 3, 1, 4)]:
        module(f"conv{k}x{k} {cin}-{cout} s{s} {hw}x{hw}", (B, cin, hw, hw),
               nn.Conv2d(cin, cout, k, stride=s, padding=k // 2, bias=False))
    for c, hw in [(64, 32), (128, 16), (256, 8), (512, 4)]:
        module(f"batchnorm {c} {hw}x{hw}", (B, c, hw, hw), nn.BatchNorm2d(c))
    out.append(("relu 64 32x32", (B, 64, 32, 32), F.relu, []))
    other = torch.randn(B, 64, 32, 32, device=dev)
    out.append(("add 64 32x32", (B, 64, 32, 32), lambda x: x + other, []))
    fc = nn.Linear(512, 10).to(dev)
    out.append(("avgpool+fc 512 4x4", (B, 512, 4, 4), lambda x: fc(F.adaptive_avg_pool2d(x, 1).flatten(1)),
                list(fc.parameters())))
    target = torch.randint(0, 10, (B,), device=dev)
    out.append(("cross_entropy 10", (B, 10), lambda x: F.cross_entropy(x, target), []))
    return out


def bench_layers(torch, nn, a, batch, dev, out):
    """Forward alone and backward alone (autograd.grad to the input and parameters), each
    bracketed by synchronize, as bench_gpu_step --layers 1."""
    torch.manual_seed(0)
    for name, shape, fwd, params in resnet_layers(torch, nn, batch, dev):
        x = torch.randn(shape, device=dev, requires_grad=True)
        wrt = [x] + params
        go = torch.randn_like(fwd(x))
        for _ in range(a.warmup):
            torch.autograd.grad(fwd(x), wrt, go)
        torch.cuda.synchronize()
        tf, tb = [], []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            y = fwd(x)
            torch.cuda.synchronize()
            tf.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            torch.autograd.grad(y, wrt, go)
            torch.cuda.synchronize()
            tb.append((time.perf_counter() - t0) * 1e3)
        emit({"framework": "pytorch", "kind": "layer", "layer": name, "batch": batch,
              "fwd_ms": round(quantile(tf, 0.5), 4), "fwd_iqr_ms": round(quantile(tf, 0.75) - quantile(tf, 0.25), 4),
              "bwd_ms": round(quantile(tb, 0.5), 4), "bwd_iqr_ms": round(quantile(tb, 0.75) - quantile(tb, 0.25), 4)},
             out)


def quantile(v, q):
    v = sorted(v)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mlp,cnn,resnet18")
    ap.add_argument("--batches", default="64,128,512")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--tf32", type=int, default=0)
    ap.add_argument("--layers", type=int, default=0)
    ap.add_argument("--cudnn-benchmark", type=int, default=0)
    ap.add_argument("--profile", type=int, default=0,
                    help="torch.cuda.profiler.start/stop around the timed steps (ncu --profile-from-start off)")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    try:
        import torch
        import torch.nn as nn
    except ImportError as e:
        emit({"framework": "pytorch", "kind": "skipped", "reason": f"no torch: {e}"}, a.out)
        return 0
    if not torch.cuda.is_available():
        emit({"framework": "pytorch", "kind": "skipped", "reason": "torch.cuda.is_available() is False"}, a.out)
        return 0
    torch.backends.cuda.matmul.allow_tf32 = bool(a.tf32)
    torch.backends.cudnn.allow_tf32 = bool(a.tf32)
    torch.backends.cudnn.benchmark = bool(a.cudnn_benchmark)
    dev = torch.device("cuda")
    if a.layers:
        failures = 0
        for batch in [int(b) for b in a.batches.split(",")]:
            try:
                bench_layers(torch, nn, a, batch, dev, a.out)
            except Exception as e:  # keep going with the next batch size
                failures += 1
                emit({"framework": "pytorch", "kind": "error", "model": "layers", "batch": batch, "error": str(e)},
                     a.out)
        return 1 if failures else 0
    models = build_models(nn)
    name = torch.cuda.get_device_name(0)
    failures = 0
    for model in a.models.split(","):
        for batch in [int(b) for b in a.batches.split(",")]:
            try:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                torch.manual_seed(0)
                m = models[model]().to(dev).train()
                opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
                x = torch.randn(input_shape(model, batch), device=dev)
                y = torch.randint(0, 10, (batch,), device=dev)

                def step():
                    loss = nn.functional.cross_entropy(m(x), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()

                for _ in range(a.warmup):
                    step()
                torch.cuda.synchronize()
                times = []
                if a.profile:
                    torch.cuda.profiler.start()
                for _ in range(a.steps):
                    t0 = time.perf_counter()
                    step()
                    torch.cuda.synchronize()
                    times.append((time.perf_counter() - t0) * 1e3)
                if a.profile:
                    torch.cuda.profiler.stop()
                p25, p50, p75 = quantile(times, 0.25), quantile(times, 0.5), quantile(times, 0.75)
                emit({"framework": "pytorch", "kind": "step", "model": model, "batch": batch, "steps": a.steps,
                      "median_ms": round(p50, 4), "p25_ms": round(p25, 4), "p75_ms": round(p75, 4),
                      "iqr_ms": round(p75 - p25, 4), "mean_ms": round(sum(times) / len(times), 4),
                      "peak_mem_mb": round(torch.cuda.max_memory_allocated() / 2**20, 2), "tf32": bool(a.tf32),
                      "device": name, "torch": torch.__version__}, a.out)
                del m, opt, x, y
            except Exception as e:  # keep going: one failing config must not hide the others
                failures += 1
                emit({"framework": "pytorch", "kind": "error", "model": model, "batch": batch, "error": str(e)}, a.out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
