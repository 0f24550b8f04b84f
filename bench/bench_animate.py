"""Speed and memory of animation with the original-size model (random weights).

For 10 s, 60 s and 600 s of generated speech-like audio, each in a fresh process:
seconds per stage (each stage timed alone), the end-to-end time of the real streaming
pipeline (stages overlapped, output streamed to a PC2 file), real-time factor and peak
RSS. Then the naive algorithm of the original release on the shorter inputs, in the
same run: one 1 s audio window per frame through the encoder, the sequential
head-by-head sampling loop with growing buffers, the decoder re-encoding the template
for every frame; and the speed-up.

    .venv/bin/python bench/bench_animate.py            # all lengths
    .venv/bin/python bench/bench_animate.py --lengths 10 60 --naive 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from audio_fixtures import speech_like  # noqa: E402

from meshtalk_blender.core import audio, cache_io, pipeline  # noqa: E402
from meshtalk_blender.core.checkpoints import LoadedModel  # noqa: E402
from meshtalk_blender.core.model import MeshTalk, MeshTalkConfig  # noqa: E402
from meshtalk_blender.core.model.meshtalk import audio_codes_for_window  # noqa: E402
from meshtalk_blender.core.sampling import PriorSampler, draw_label, draws  # noqa: E402


def original_size_model(seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    model = MeshTalk(MeshTalkConfig.original()).eval()
    template = np.random.default_rng(seed).normal(size=(6172, 3)).astype(np.float32)
    return LoadedModel(model, template, "random original-size", "none")


def write_audio(seconds: float, directory: Path) -> Path:
    path = directory / f"speech_{seconds:g}s.wav"
    if not path.exists():
        # Build long files from 10 s pieces so generation stays quick.
        pieces = [speech_like(min(10.0, seconds - start), 16000, seed=int(start)) for start in np.arange(0, seconds, 10.0)]
        soundfile.write(path, np.concatenate(pieces), 16000, subtype="PCM_16")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_fast(seconds: float, directory: Path) -> dict:
    """Runs in its own process (peak RSS is per process)."""
    loaded = original_size_model()
    path = write_audio(seconds, directory)
    PriorSampler(loaded.model.prior).sample(PriorSampler(loaded.model.prior).start(),
                                             np.zeros((2, 128), np.float32), draws(0, 2, 16))  # compile/load kernel
    rss_before = peak_rss_mb()
    result = {"seconds_of_audio": seconds}
    # End to end: the real pipeline, streamed into a PC2 file as the CLI does.
    started = time.perf_counter()
    run = pipeline.AnimationRun(loaded, audio.AudioClip(path), pipeline.AnimateOptions(fps=30, device="cpu"))
    with cache_io.CacheWriter(directory / "out.pc2", run.num_output_frames, 6172, 30) as writer:
        for chunk in run.chunks():
            writer.write(chunk)
    result["end_to_end_s"] = time.perf_counter() - started
    result["real_time_factor"] = seconds / result["end_to_end_s"]
    result["peak_rss_mb"] = peak_rss_mb()
    result["rss_before_run_mb"] = rss_before
    result["output_mb"] = (directory / "out.pc2").stat().st_size / 1e6
    (directory / "out.pc2").unlink()
    # Each stage alone, for the table (same work as inside the pipeline, not overlapped).
    frames = run.num_model_frames
    times = np.arange(frames) / 30
    with torch.inference_mode():
        started = time.perf_counter()
        info = audio.probe(audio.AudioClip(path))
        samples = audio.NormalisedSamples(info)
        codes = np.concatenate([audio_codes_for_window(loaded.model, samples.get, times[a:a + 300]).numpy()
                                for a in range(0, frames, 300)])
        result["audio_and_encoder_s"] = time.perf_counter() - started
        started = time.perf_counter()
        sampler = PriorSampler(loaded.model.prior)
        state = sampler.start()
        labels = np.concatenate([sampler.sample(state, codes[a:a + 300], run.uniforms[a:a + 300])
                                 for a in range(0, frames, 300)])
        result["sampler_s"] = time.perf_counter() - started
        started = time.perf_counter()
        decoder = loaded.model.decoder
        encoding = decoder.encode_template(torch.from_numpy(loaded.template)[None, None])
        decoder_state = None
        for a in range(0, frames, 300):
            vertices, decoder_state = decoder.decode_labels(encoding, torch.from_numpy(labels[a:a + 300])[None],
                                                            decoder_state)
        result["decoder_s"] = time.perf_counter() - started
    return result


def measure_naive(seconds: float, directory: Path) -> dict:
    """The release's algorithm, transcribed for timing (same weights and sizes)."""
    loaded = original_size_model()
    model = loaded.model
    _, waveform = audio.load_normalised(audio.AudioClip(write_audio(seconds, directory)))
    hop = 16000 // 30  # the release's frame hop (533 samples)
    frames = len(waveform) // hop
    encoder = model.audio_encoder
    result = {"seconds_of_audio": seconds}
    with torch.inference_mode():
        started = time.perf_counter()
        padded = np.concatenate([np.zeros(8000, np.float32), waveform, np.zeros(8000, np.float32)])
        codes = []
        for frame in range(frames):
            window = torch.from_numpy(padded[frame * hop: frame * hop + 16000])
            spectrum = torch.stft(window, 2048, 160, 800, encoder.log_mel.window, center=True, pad_mode="reflect",
                                  return_complex=True)
            log_mel = torch.log(torch.clamp(encoder.log_mel.filterbank.T @ spectrum.abs().square(), min=1e-10))
            codes.append(encoder(log_mel[None, :, :101])[0, 0])
        audio_code = torch.stack(codes)
        result["audio_and_encoder_s"] = time.perf_counter() - started
        started = time.perf_counter()
        labels = naive_sample(model.prior, audio_code, draws(0, frames, 16))
        result["sampler_s"] = time.perf_counter() - started
        started = time.perf_counter()
        one_hot = F.one_hot(torch.from_numpy(labels), 128).float()[None]
        template = torch.from_numpy(loaded.template)[None, None].expand(1, frames, -1, -1)
        model.decoder(template, one_hot)
        result["decoder_s"] = time.perf_counter() - started
    result["end_to_end_s"] = result["audio_and_encoder_s"] + result["sampler_s"] + result["decoder_s"]
    return result


def naive_sample(prior, audio_code: torch.Tensor, uniforms: np.ndarray) -> np.ndarray:
    """The release's sampling loop, step for step: for each frame, for each head, every
    layer adds head h's rows for the current frame into its output buffer (which grows by
    one frame per frame), returns a contiguous copy of that whole buffer as the next
    layer's input, and the log-softmax, softmax and argmax are taken over the whole
    logits buffer; then one label is drawn. The copies and the whole-buffer softmax make
    each step cost O(t): O(T^2) in all, as measured for the release."""
    heads, classes, width = 16, 128, 64
    frames = len(audio_code)
    layers = [prior.embedding, *prior.context_layers, prior.logits]
    widths = [width] * (len(layers) - 1) + [classes]
    masked = [(layer.masked_linear.weight * layer.mask)[:, :, 0] for layer in layers]
    buffers = [torch.zeros(1, heads * w, 0) for w in widths]
    one_hot = torch.zeros(1, frames, heads * classes)
    labels = np.zeros((frames, heads), dtype=np.int64)
    for t in range(frames):
        buffers = [torch.cat([b, torch.zeros(1, b.shape[1], 1)], dim=-1) for b in buffers]
        history_done = [False] * len(layers)
        for h in range(heads):
            x = one_hot[:, max(0, t - 20):t + 1].permute(0, 2, 1).contiguous()  # (1, H*C, window)
            for index, layer in enumerate(layers):
                rows = slice(h * widths[index], (h + 1) * widths[index])
                buffer = buffers[index]
                buffer[0, rows, -1] += masked[index][rows] @ x[0, :, -1] + layer.masked_linear.bias[rows]
                if layer.unmasked_linear is not None and index not in (0, len(layers) - 1):
                    buffer[0, rows, -1] += layer.unmasked_linear.weight[rows, :, 0] @ audio_code[t] + layer.unmasked_linear.bias[rows]
                if layer.historic is not None and not history_done[index]:
                    past = x[:, :, -(layer.dilation + 2):-1]
                    past = F.pad(past, (layer.dilation + 1 - past.shape[-1], 0))
                    buffer[0, :, -1] += layer.historic(past)[0, :, -1]
                    history_done[index] = True
                x = buffer.permute(0, 2, 1).contiguous().permute(0, 2, 1)  # the release's full copy
                if 0 < index < len(layers) - 1:
                    x = F.leaky_relu(x, 0.2)
            logits = x.permute(0, 2, 1).reshape(1, -1, heads, classes)
            log_probs = F.log_softmax(logits, dim=-1)
            F.softmax(log_probs, dim=-1), torch.argmax(log_probs, dim=-1)  # computed over all frames, as the release
            label = draw_label(log_probs[0, -1, h].double().numpy(), float(uniforms[t, h]), 1.0)
            labels[t, h] = label
            one_hot[0, t, h * classes + label] = 1
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=float, nargs="+", default=[10, 60, 600])
    parser.add_argument("--naive", type=float, nargs="*", default=[10, 60])
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # child: measure one length
    parser.add_argument("--one-naive", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None or args.one_naive is not None:
        work = measure_fast if args.one is not None else measure_naive
        print(json.dumps(work(args.one if args.one is not None else args.one_naive, args.workdir)))
        return
    print(f"torch {torch.__version__}, {machine()}, threads {torch.get_num_threads()}; "
          "original sizes (V=6172, H=16, C=128), random weights", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        fast, naive = {}, {}
        for length in args.lengths:
            fast[length] = child("--one", length, directory)
        for length in args.naive:
            naive[length] = child("--one-naive", length, directory)
    print(f"\n{'audio':>7} {'audio+enc':>10} {'sampler':>8} {'decoder':>8} {'end-to-end':>11} {'x real time':>11} "
          f"{'peak RSS':>9} {'output':>8}")
    for length, r in fast.items():
        print(f"{length:>6g}s {r['audio_and_encoder_s']:>9.2f}s {r['sampler_s']:>7.2f}s {r['decoder_s']:>7.2f}s "
              f"{r['end_to_end_s']:>10.2f}s {r['real_time_factor']:>10.1f}x {r['peak_rss_mb']:>7.0f}MB "
              f"{r['output_mb']:>6.0f}MB")
    if naive:
        print("\nnaive algorithm of the release (same sizes):")
        for length, r in naive.items():
            speedup = r["end_to_end_s"] / fast[length]["end_to_end_s"] if length in fast else float("nan")
            print(f"{length:>6g}s {r['audio_and_encoder_s']:>9.2f}s {r['sampler_s']:>7.2f}s {r['decoder_s']:>7.2f}s "
                  f"{r['end_to_end_s']:>10.2f}s   speed-up of the fast pipeline: {speedup:.0f}x")


def machine() -> str:
    """The CPU's model name and count: the numbers move with the hardware (the same code
    measured 2.60 s and 1.64 s for 60 s on two machines of this project)."""
    names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")] if Path("/proc/cpuinfo").is_file() else []
    return f"{names[0] if names else 'CPU'} x {os.cpu_count()}"


def child(flag: str, length: float, directory: str) -> dict:
    output = subprocess.run([sys.executable, __file__, flag, str(length), "--workdir", directory],
                            capture_output=True, text=True, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    print(f"  {flag[2:]} {length:g}s: {result['end_to_end_s']:.2f}s", flush=True)
    return result


if __name__ == "__main__":
    main()
