"""A small, deliberately naive MeshTalk written straight from the reference design
(../shared/docs/meshtalk-reference.md), working on state dicts with the ORIGINAL
release's key names. It shares no code with meshtalk_blender, so tests that compare the
two catch mistakes in either. It is slow on purpose: per-frame audio windows and the
sequential resampling loop of the release.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SLOPE = 0.2


def lrelu(x):
    return F.leaky_relu(x, SLOPE)


def reference_log_mel(waveform: torch.Tensor, window: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """(N,) samples -> (80, 1 + N // 160), centred frames with reflect padding."""
    spec = torch.stft(waveform, n_fft=2048, hop_length=160, win_length=800, window=window,
                      center=True, pad_mode="reflect", return_complex=True)
    mel = fb.T @ spec.abs() ** 2
    return torch.log(torch.clamp(mel, min=1e-10))


def reference_audio_code(encoder_sd: dict, mel_window: torch.Tensor) -> torch.Tensor:
    """(80, 101) log-mel window -> (128,) code of its centre frame."""
    x = mel_window[None]
    x = lrelu(F.conv1d(x, encoder_sd["audio_encoder.convert_dimensions.weight"],
                       encoder_sd["audio_encoder.convert_dimensions.bias"]))
    for i, d in enumerate([2, 4, 6, 2, 4, 6]):
        y = lrelu(F.conv1d(x, encoder_sd[f"audio_encoder.convs.{i}.weight"],
                           encoder_sd[f"audio_encoder.convs.{i}.bias"], dilation=d))
        x = (x[:, :, 2 * d: x.shape[2] - 2 * d] + y) / 2
    assert x.shape[2] == 1
    return x[0, :, 0] @ encoder_sd["audio_encoder.code.weight"].T + encoder_sd["audio_encoder.code.bias"]


def reference_prior_log_probs(prior_sd: dict, one_hot: torch.Tensor, audio: torch.Tensor,
                              heads: int, dilations=(1, 2, 4, 8)) -> torch.Tensor:
    """Teacher-forced prior. (T, H, C) one-hot, (T, A) audio -> (T, H, C) log-probs.
    The history taps are written as explicit shifted copies of the sequence."""
    frames = one_hot.shape[0]

    def masked(prefix):
        return (prior_sd[prefix + ".masked_linear.weight"] * prior_sd[prefix + ".mask"])[:, :, 0]

    x = one_hot.reshape(frames, -1) @ masked("embedding").T + prior_sd["embedding.masked_linear.bias"]
    for layer, d in enumerate(dilations):
        p = f"context_layers.{layer}"
        y = x @ masked(p).T + prior_sd[p + ".masked_linear.bias"]
        y = y + audio @ prior_sd[p + ".unmasked_linear.weight"][:, :, 0].T + prior_sd[p + ".unmasked_linear.bias"]
        w = prior_sd[p + ".historic.weight"]
        # Frame t adds W1 x[t-1] + W0 x[t-1-d]; frames before the start are zeros.
        previous = torch.cat([torch.zeros(1, x.shape[1]), x[:-1]])
        dilated = torch.cat([torch.zeros(1 + d, x.shape[1]), x[:-1 - d]])[:frames]
        history = previous @ w[:, :, 1].T + dilated @ w[:, :, 0].T + prior_sd[p + ".historic.bias"]
        x = lrelu(y + history)
    logits = x @ masked("logits").T + prior_sd["logits.masked_linear.bias"]
    return torch.log_softmax(logits.reshape(frames, heads, -1), dim=-1)


def reference_sample(prior_sd: dict, audio: torch.Tensor, heads: int, classes: int,
                     uniforms: np.ndarray, temperature: float, draw_label,
                     fixed_labels=None, fixed_mask=None) -> np.ndarray:
    """The release's sampling loop: for t, for h, re-run the prior on the last 21 frames."""
    frames = audio.shape[0]
    one_hot = torch.zeros(frames, heads, classes)
    labels = np.zeros((frames, heads), dtype=np.int64)
    for t in range(frames):
        start = max(0, t - 20)
        for h in range(heads):
            if fixed_mask is not None and fixed_mask[t, h]:
                label = int(fixed_labels[t, h])
            else:
                log_probs = reference_prior_log_probs(prior_sd, one_hot[start:t + 1], audio[start:t + 1], heads)
                label = draw_label(log_probs[-1, h].double().numpy(), float(uniforms[t, h]), temperature)
            labels[t, h] = label
            one_hot[t, h, label] = 1
    return labels


def reference_decode(unet_sd: dict, template: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
    """(V, 3) template, (T, H, C) one-hot -> (T, V, 3), every frame computed in full."""
    frames = one_hot.shape[0]
    mean, std = unet_sd["mean"][0, 0], unet_sd["stddev"][0, 0]
    x = ((template - mean) / std).reshape(1, -1).repeat(frames, 1)
    skips = []
    for i in range(3):
        skips.insert(0, x)
        x = lrelu(x @ unet_sd[f"encoder.{i}.weight"].T + unet_sd[f"encoder.{i}.bias"])
    x = lrelu(torch.cat([x, one_hot.reshape(frames, -1)], dim=1) @ unet_sd["fusion.weight"].T + unet_sd["fusion.bias"])
    # Two-layer LSTM, written out.
    for layer in range(2):
        w_ih, w_hh = unet_sd[f"temporal.weight_ih_l{layer}"], unet_sd[f"temporal.weight_hh_l{layer}"]
        b = unet_sd[f"temporal.bias_ih_l{layer}"] + unet_sd[f"temporal.bias_hh_l{layer}"]
        hidden = w_hh.shape[1]
        h, c, outputs = torch.zeros(hidden), torch.zeros(hidden), []
        for t in range(frames):
            gates = w_ih @ x[t] + w_hh @ h + b
            i, f, g, o = gates.split(hidden)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        x = torch.stack(outputs)
    for i in range(3):
        x = skips[i] + lrelu(x @ unet_sd[f"decoder.{i}.weight"].T + unet_sd[f"decoder.{i}.bias"])
    x = x + unet_sd["vertex_bias"]
    return x.reshape(frames, -1, 3) * std + mean
