#!/usr/bin/env python3
"""The PyTorch side of `voicestyle-bench … --pytorch`: upstream's models and loops on the CPU, timed per case.

Our own PyTorch code following upstream's operations and shapes, with random weights (the cost does not depend
on the values):
  * rosinality/stylegan2-pytorch model.py: Generator(256, 512, 8, channel_multiplier=2) — modulated (fused,
    grouped) convolutions, transposed convolutions + upfirdn2d blur for upsampling, noise injection, ToRGB with
    upfirdn2d skip upsampling, fused leaky ReLU — with the CPU paths upstream takes (upfirdn2d_native,
    F.leaky_relu + bias);
  * audio-visual/cmpc2 fv_resnet.py: torchvision-layout ResNet-34 encoders (face 3×256×256, voice 1×64×800), fc =
    identity, eval mode;
  * eladrich/pixel2style2pixel IR-SE50 (112 px) behind StyleCLIP's IDLoss (pool to 256, crop 188, pool to 112);
  * lpips v0.1 LPIPS-VGG16 (features up to relu5_3, normalised differences, 1×1 lins, spatial mean);
  * the loops: rosinality projector.py (as in voicestyle generation/projector.py, + the identity term) and
    voicestyle generation/pipeline.py `optimize` (+ our refiner's identity and anchor terms).

Usage: bench_pytorch.py [--cases a,b,...] [--repeat N] [--seconds S] [--threads T] [--json]
Prints a table, or with --json one object: torch version, threads, CPU capability and per case the best and
median seconds of the timed runs (at least N, and until S seconds are spent) after one warm-up (`items` = images
per run).
"""
import argparse
import functools
import json
import math
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------------------------------------------------------
# StyleGAN2 generator (rosinality model.py, CPU paths)

def make_kernel(k):
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x, kernel, up=1, pad=(0, 0)):
    """Zero-stuff by `up`, pad, correlate with the flipped kernel per channel (upfirdn2d_native, down = 1)."""
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    out = x.reshape(-1, h, 1, w, 1, 1)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1])
    out = out.view(-1, h * up, w * up, 1)
    out = F.pad(out, [0, 0, pad[0], pad[1], pad[0], pad[1]])
    out = out.permute(0, 3, 1, 2).reshape(-1, 1, h * up + pad[0] + pad[1], w * up + pad[0] + pad[1])
    out = F.conv2d(out, torch.flip(kernel, [0, 1]).view(1, 1, kh, kw))
    return out.view(n, c, out.shape[2], out.shape[3])


def fused_leaky_relu(x, bias, scale=2 ** 0.5):
    shape = [1, -1] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope=0.2) * scale


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, bias_init=0.0, lr_mul=1.0, activation=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init))
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, activation

    def forward(self, x):
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, bias=self.bias * self.lr_mul)


class ModulatedConv2d(nn.Module):
    def __init__(self, cin, cout, k, style_dim, demodulate=True, upsample=False):
        super().__init__()
        self.cin, self.cout, self.k, self.demodulate, self.upsample = cin, cout, k, demodulate, upsample
        self.scale, self.padding = 1 / math.sqrt(cin * k * k), k // 2
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k))
        self.modulation = EqualLinear(style_dim, cin, bias_init=1.0)
        if upsample:  # Blur([1, 3, 3, 1], pad=(1, 1), upsample_factor=2)
            self.register_buffer("blur", make_kernel([1, 3, 3, 1]) * 4)

    def forward(self, x, style):
        b, cin, h, w = x.shape
        style = self.modulation(style).view(b, 1, cin, 1, 1)
        weight = self.scale * self.weight * style
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(b, self.cout, 1, 1, 1)
        weight = weight.view(b * self.cout, cin, self.k, self.k)
        x = x.view(1, b * cin, h, w)
        if self.upsample:
            weight = weight.view(b, self.cout, cin, self.k, self.k).transpose(1, 2).reshape(b * cin, self.cout, self.k, self.k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=b)
            out = upfirdn2d(out.view(b, self.cout, out.shape[2], out.shape[3]), self.blur, pad=(1, 1))
            return out
        out = F.conv2d(x, weight, padding=self.padding, groups=b)
        return out.view(b, self.cout, out.shape[2], out.shape[3])


class StyledConv(nn.Module):
    def __init__(self, cin, cout, style_dim, upsample=False):
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, 3, style_dim, upsample=upsample)
        self.noise_weight = nn.Parameter(torch.full((1,), 0.1))  # NoiseInjection (upstream starts at 0)
        self.bias = nn.Parameter(torch.zeros(cout))  # FusedLeakyReLU

    def forward(self, x, style, noise):
        return fused_leaky_relu(self.conv(x, style) + self.noise_weight * noise, self.bias)


class ToRGB(nn.Module):
    def __init__(self, cin, style_dim, upsample=True):
        super().__init__()
        self.conv = ModulatedConv2d(cin, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        if upsample:  # Upsample([1, 3, 3, 1]): up 2, pad (2, 1)
            self.register_buffer("kernel", make_kernel([1, 3, 3, 1]) * 4)

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + upfirdn2d(skip, self.kernel, up=2, pad=(2, 1))
        return out


class Generator(nn.Module):
    def __init__(self, size=256, style_dim=512, n_mlp=8, channel_multiplier=2):
        super().__init__()
        layers = []
        for _ in range(n_mlp):
            layers.append(EqualLinear(style_dim, style_dim, lr_mul=0.01, activation=True))
        self.style = nn.ModuleList(layers)
        cm = channel_multiplier
        channels = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm, 1024: 16 * cm}
        self.input = nn.Parameter(torch.randn(1, channels[4], 4, 4))
        self.conv1 = StyledConv(channels[4], channels[4], style_dim)
        self.to_rgb1 = ToRGB(channels[4], style_dim, upsample=False)
        self.log_size = int(math.log2(size))
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        cin = channels[4]
        for i in range(3, self.log_size + 1):
            cout = channels[2 ** i]
            self.convs.append(StyledConv(cin, cout, style_dim, upsample=True))
            self.convs.append(StyledConv(cout, cout, style_dim))
            self.to_rgbs.append(ToRGB(cout, style_dim))
            cin = cout
        self.n_latent = self.log_size * 2 - 2

    def map(self, z):
        x = z * torch.rsqrt(torch.mean(z ** 2, dim=1, keepdim=True) + 1e-8)  # PixelNorm
        for layer in self.style:
            x = layer(x)
        return x

    def make_noise(self):
        noises = [torch.randn(1, 1, 4, 4)]
        for i in range(3, self.log_size + 1):
            noises += [torch.randn(1, 1, 2 ** i, 2 ** i) for _ in range(2)]
        return noises

    def forward(self, w, noise):
        """`w` [B, 512] (input_is_latent=True, one style repeated over the n_latent layers)."""
        latent = w.unsqueeze(1).repeat(1, self.n_latent, 1)
        out = self.input.repeat(w.shape[0], 1, 1, 1)
        out = self.conv1(out, latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for c1, c2, n1, n2, rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs):
            out = c1(out, latent[:, i], n1)
            out = c2(out, latent[:, i + 1], n2)
            skip = rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip


def noise_regularize(noises):
    loss = 0
    for noise in noises:
        size = noise.shape[2]
        while True:
            loss = loss + (noise * torch.roll(noise, shifts=1, dims=3)).mean().pow(2) \
                + (noise * torch.roll(noise, shifts=1, dims=2)).mean().pow(2)
            if size <= 8:
                break
            noise = noise.reshape([-1, 1, size // 2, 2, size // 2, 2]).mean([3, 5])
            size //= 2
    return loss


def noise_normalize_(noises):
    for noise in noises:
        mean, std = noise.mean(), noise.std()
        noise.data.add_(-mean).div_(std)


# ---------------------------------------------------------------------------------------------------------------
# CMPC encoders: torchvision-layout ResNet-34, fc = identity

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet34(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        stages, cin = [], 64
        for n, w, s in [(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)]:
            stages.append(nn.Sequential(*[BasicBlock(cin if i == 0 else w, w, s if i == 0 else 1) for i in range(n)]))
            cin = w
        self.layers = nn.Sequential(*stages)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return torch.flatten(F.adaptive_avg_pool2d(self.layers(x), 1), 1)


def cmpc_distance(voice, face):
    """voicestyle's CMPCLoss: 1 − cos(voice, face) per face."""
    return 1 - (voice * face).sum(1) / (voice.norm(dim=1) * face.norm(dim=1))


# ---------------------------------------------------------------------------------------------------------------
# IR-SE50 (pSp model_irse.py) and StyleCLIP's IDLoss

class SEModule(nn.Module):
    def __init__(self, c, reduction=16):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(c // reduction, c, 1, bias=False)

    def forward(self, x):
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * s


class BottleneckIRSE(nn.Module):
    def __init__(self, cin, depth, stride):
        super().__init__()
        if cin == depth:
            self.shortcut = nn.MaxPool2d(1, stride)
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
                                 nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth), SEModule(depth))

    def forward(self, x):
        return self.res(x) + self.shortcut(x)


class IRSE50(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        units = []
        for cin, depth, n in [(64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3)]:
            units += [BottleneckIRSE(cin if i == 0 else depth, depth, 2 if i == 0 else 1) for i in range(n)]
        self.body = nn.Sequential(*units)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(0.4), nn.Flatten(), nn.Linear(512 * 7 * 7, 512),
                                          nn.BatchNorm1d(512))

    def forward(self, x):
        x = self.output_layer(self.body(self.input_layer(x)))
        return x / torch.norm(x, 2, 1, True)  # l2_norm


class IDLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.facenet = IRSE50()

    def extract_feats(self, x):
        if x.shape[2] != 256:
            x = F.adaptive_avg_pool2d(x, (256, 256))
        x = x[:, :, 35:223, 32:220]
        return self.facenet(F.adaptive_avg_pool2d(x, (112, 112)))

    def forward(self, y_hat, y_feats):
        """mean(1 − ⟨f(ŷ), f(y)⟩) for target features `y_feats` (StyleCLIP computes them from y each call)."""
        return (1 - (self.extract_feats(y_hat) * y_feats).sum(1)).mean()


# ---------------------------------------------------------------------------------------------------------------
# LPIPS-VGG16 (lpips v0.1)

class LPIPS(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([.458, .448, .450]).view(1, 3, 1, 1))
        cfg = [[64, 64], ["M", 128, 128], ["M", 256, 256, 256], ["M", 512, 512, 512], ["M", 512, 512, 512]]
        self.slices, cin = nn.ModuleList(), 3
        for stage in cfg:
            layers = []
            for v in stage:
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
                    cin = v
            self.slices.append(nn.Sequential(*layers))
        self.lins = nn.ModuleList([nn.Sequential(nn.Dropout(), nn.Conv2d(c, 1, 1, bias=False)) for c in [64, 128, 256, 512, 512]])

    def features(self, x):
        h, feats = (x - self.shift) / self.scale, []
        for s in self.slices:
            h = s(h)
            feats.append(h / (torch.sqrt(torch.sum(h ** 2, dim=1, keepdim=True)) + 1e-10))
        return feats

    def forward(self, in0, in1):
        f0, f1 = self.features(in0), self.features(in1)
        return sum(lin((a - b) ** 2).mean([2, 3], keepdim=True) for lin, a, b in zip(self.lins, f0, f1))


# ---------------------------------------------------------------------------------------------------------------
# Cases

def frozen(m):
    """Eval mode, parameters frozen: gradients flow to the inputs only, as in upstream's loops."""
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


class Models:
    """Random full-size models, each built on first use."""

    @functools.cached_property
    def g(self):
        return frozen(Generator())

    @functools.cached_property
    def cmpc_face(self):
        return frozen(ResNet34(3))

    @functools.cached_property
    def cmpc_voice(self):
        return frozen(ResNet34(1))

    @functools.cached_property
    def identity(self):
        return frozen(IDLoss())

    @functools.cached_property
    def lpips(self):
        return frozen(LPIPS())


def leaf(t):
    return t.detach().clone().requires_grad_(True)


class Loop:
    """The state of one latent-optimisation loop (W, noise maps, Adam), as upstream's projector sets it up."""

    def __init__(self, m):
        torch.manual_seed(3)
        with torch.no_grad():
            self.w = leaf(m.g.map(torch.randn(1, 512)))
        self.noises = [leaf(n) for n in m.g.make_noise()]
        self.anchor = self.w.detach().clone()
        self.optimizer = torch.optim.Adam([self.w] + self.noises, lr=0.01)
        self.step = 0

    def iterate(self, m, loss_of_image, extra=None):
        """One step: latent noise, G, loss, backward, Adam, noise_normalize_."""
        t = self.step / 100
        strength = 0.05 * max(0, 1 - t / 0.75) ** 2
        w_n = self.w + torch.randn_like(self.w) * strength
        img = m.g(w_n, self.noises)
        loss = loss_of_image(img) + 1e5 * noise_regularize(self.noises)
        if extra is not None:
            loss = loss + extra(self.w)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        noise_normalize_(self.noises)
        self.step += 1


def make_cases(m):
    """name → (description, images per run, set-up returning the timed callable)."""

    def g256_forward():
        torch.manual_seed(1)
        w, noises = m.g.map(torch.randn(1, 512)), m.g.make_noise()

        def run():
            with torch.no_grad():
                m.g(w, noises)
        return run

    def g256_backward():
        torch.manual_seed(1)
        with torch.no_grad():
            w = m.g.map(torch.randn(1, 512))
        noises = m.g.make_noise()

        def run():
            m.g(leaf(w), [leaf(n) for n in noises]).sum().backward()
        return run

    def refine_step():
        loop = Loop(m)
        torch.manual_seed(4)
        with torch.no_grad():
            voice = m.cmpc_voice(torch.randn(1, 1, 64, 800))  # once per job
            target_id = m.identity.facenet(torch.rand(1, 3, 112, 112) * 2 - 1)  # the prototypes' mean, once

        def loss(img):
            img = img.clamp(-1, 1)
            return cmpc_distance(voice, m.cmpc_face(img)).sum() + 0.1 * m.identity(img, target_id)
        return lambda: loop.iterate(m, loss, extra=lambda w: 0.01 * (w - loop.anchor).pow(2).sum())

    def projector_step(identity):
        def make():
            loop = Loop(m)
            torch.manual_seed(5)
            target = torch.rand(1, 3, 256, 256) * 2 - 1

            def loss(img):
                p = m.lpips(img, target).sum()  # upstream runs the target through VGG every step
                if identity:
                    with torch.no_grad():
                        y_feats = m.identity.extract_feats(target)  # StyleCLIP IDLoss: extract_feats(y) every call
                    p = p + m.identity(img, y_feats)
                return p
            return lambda: loop.iterate(m, loss)
        return make

    def lpips_backward():
        torch.manual_seed(5)
        x, target = torch.rand(1, 3, 256, 256) * 2 - 1, torch.rand(1, 3, 256, 256) * 2 - 1
        return lambda: m.lpips(leaf(x), target).sum().backward()

    def irse50_backward():
        torch.manual_seed(5)
        x, target = torch.rand(1, 3, 256, 256) * 2 - 1, torch.rand(1, 3, 256, 256) * 2 - 1

        def run():
            with torch.no_grad():
                y_feats = m.identity.extract_feats(target)
            m.identity(leaf(x), y_feats).backward()
        return run

    def cmpc_face(batch):
        def make():
            torch.manual_seed(6)
            x = torch.rand(batch, 3, 256, 256) * 2 - 1

            def run():
                with torch.no_grad():
                    m.cmpc_face(x)
            return run
        return make

    def cmpc_voice():
        torch.manual_seed(6)
        x = torch.randn(1, 1, 64, 800)

        def run():
            with torch.no_grad():
                m.cmpc_voice(x)
        return run

    def cmpc_face_backward():
        torch.manual_seed(6)
        x, v = torch.rand(1, 3, 256, 256) * 2 - 1, torch.randn(1, 1, 64, 800)

        def run():
            with torch.no_grad():
                a = m.cmpc_voice(v)
            cmpc_distance(a, m.cmpc_face(leaf(x))).sum().backward()
        return run

    return {
        "g256-forward": ("G256 forward (no grad), W input", 1, g256_forward),
        "g256-backward": ("G256 forward+backward to W and the noise maps", 1, g256_backward),
        "refine-step": ("refinement step: G fwd+bwd, CMPC face + IR-SE50 identity fwd+bwd, noise reg, Adam", 1, refine_step),
        "projector-step": ("projector iteration: G fwd+bwd, LPIPS + IR-SE50 identity, noise reg, Adam", 1, projector_step(True)),
        "projector-step-noid": ("projector iteration without identity (rosinality projector.py)", 1, projector_step(False)),
        "lpips-backward": ("LPIPS-VGG16 forward+backward to the image (target through VGG too)", 1, lpips_backward),
        "irse50-backward": ("IR-SE50 identity loss forward+backward to a 256 image (target features no grad)", 1, irse50_backward),
        "cmpc-voice": ("CMPC voice ResNet-34 forward 1x1x64x800", 1, cmpc_voice),
        "cmpc-face-b1": ("CMPC face ResNet-34 forward, batch 1, 256 px", 1, cmpc_face(1)),
        "cmpc-face-b16": ("CMPC face ResNet-34 forward, batch 16, 256 px", 16, cmpc_face(16)),
        "cmpc-face-backward": ("CMPC face forward+backward to the image (+ voice forward)", 1, cmpc_face_backward),
    }


def time_case(run, repeat, seconds):
    """One warm-up, then at least `repeat` runs and until `seconds` are spent (50 runs at most), as our benches time."""
    run()
    times = []
    while len(times) < repeat or (sum(times) < seconds and len(times) < 50):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), len(times)


def main(argv=None):
    names = list(make_cases(None).keys())
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(names), help="comma-separated cases: " + ", ".join(names))
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per case after one warm-up (default 3)")
    ap.add_argument("--seconds", type=float, default=0.0, help="keep timing a case until this many seconds are spent (default 0)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args(argv)
    chosen = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in names]
    if unknown or args.repeat < 1 or args.threads < 1:
        ap.error(f"unknown case {', '.join(unknown)}; allowed: {', '.join(names)}" if unknown
                 else "--repeat and --threads must be at least 1")
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(True)
    cases = make_cases(Models())
    result = {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "mkldnn": torch.backends.mkldnn.is_available(),
              "repeat": args.repeat, "cases": {}}
    if not args.json:
        print(f"PyTorch {result['torch']}, {result['threads']} threads, CPU capability {result['cpu_capability']}, "
              f"best and median of {args.repeat}+ runs after a warm-up")
        print(f"{'case':<22}{'best s':>9}{'median s':>10}{'images/s':>10}  description", flush=True)
    for name in chosen:
        description, items, make = cases[name]
        best, median, runs = time_case(make(), args.repeat, args.seconds)
        result["cases"][name] = {"best_s": best, "median_s": median, "runs": runs, "items": items, "description": description}
        if not args.json:
            print(f"{name:<22}{best:>9.3f}{median:>10.3f}{items / best:>10.2f}  {description}", flush=True)
    if args.json:
        print(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
