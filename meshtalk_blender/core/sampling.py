"""Exact, fast sampling of the prior: frame by frame, head by head, in linear time.

The original sampler re-runs the whole prior over a growing window for every head of
every frame (16 * T passes, cost ~T^2). This one keeps, for each layer, the inputs of
the last few frames and computes only what each new (frame, head) needs:

- per frame, each context layer's current-audio term (one GEMM for a whole chunk) and
  its history term ``W0 x[t-1-d] + W1 x[t-1]``. ``W0 x[s]`` is needed only d+1 frames
  after frame s, so it is computed for d+1 frames at once (one matrix read, not d+1);
- per head h, the masked current-frame sums over heads < h (a small mat-vec per layer),
  then head h's logits and its label.

Given the same draws it returns the same labels as the naive loop (up to float rounding
in the logits; tests check equality), because the teacher-forced prior at frame t depends
only on frames t-19..t and each head only on the heads before it.

Draws: one uniform number u[t, h] per label. A label is drawn by inverting the
cumulative distribution of softmax(logits / temperature); temperature 0 takes the
argmax. Uniforms come from ``draws(seed, frames, heads)``, so a seed fixes everything.

The kernel is compiled with numba (no per-step Python, no per-step syncs) and releases
the GIL, so the decoder can run on another core while the sampler works.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from .compiled import numba  # its kernel cache set up (~5 s of compiling only the first time)
from .model.prior import Prior

RING = 16  # frames of history kept per layer; must exceed the largest dilation + 1


@functools.lru_cache(maxsize=1)
def kernel_blas() -> ThreadpoolController:
    """The BLAS that the compiled kernel's np.dot calls: numba goes through
    scipy.linalg.cython_blas, whose wheels carry their own OpenBLAS. Only that one is held
    to one thread while the kernel runs: a library's thread count is process-wide, and
    numpy's OpenBLAS, used meanwhile by the decoder's thread (and by Blender's), gives
    other last bits with one thread than with two, so its results would depend on the
    timing of this thread. Where scipy shares numpy's BLAS (a system build), both are held."""
    import scipy.linalg.cython_blas  # noqa: F401  (loaded, so that the controller finds it)

    controller = ThreadpoolController().select(user_api="blas")
    scipys = [library.filepath for library in controller.lib_controllers if "scipy" in library.filepath]
    return controller.select(filepath=scipys) if scipys else controller


def draws(seed: int, num_frames: int, num_heads: int) -> np.ndarray:
    """(T, H) float64 uniforms in [0, 1) for a seed; the same on every platform."""
    return np.random.Generator(np.random.PCG64(seed)).random((num_frames, num_heads))


# The seed whose draws the heads decided by the audio alone take (a bundle's
# ``mouth_heads``, training.mouth_heads), whatever the user's seed: a seed then redraws
# the upper face and never the lips. Their logits are sharpened, so a draw rarely
# mattered, but where a frame's two classes were close the lips of two seeds parted by
# millimetres (measured: up to 4.4 mm on real speech).
AUDIO_HEADS_SEED = 0


def seed_draws(seed: int, num_frames: int, num_heads: int, audio_heads: tuple[int, ...] = ()) -> np.ndarray:
    """(T, H) ``draws(seed)``, but the ``audio_heads`` columns from AUDIO_HEADS_SEED."""
    uniforms = draws(seed, num_frames, num_heads)
    if audio_heads:
        columns = list(audio_heads)
        uniforms[:, columns] = draws(AUDIO_HEADS_SEED, num_frames, num_heads)[:, columns]
    return uniforms


@numba.njit(cache=True, nogil=True)
def draw_label(logits, uniform, temperature):
    """One label from (C,) logits: inverse CDF of softmax(logits / temperature)."""
    classes = logits.shape[0]
    best = 0
    for c in range(1, classes):
        if logits[c] > logits[best]:
            best = c
    if temperature <= 0.0:
        return best
    peak = np.float64(logits[best])
    total = 0.0
    weights = np.empty(classes, dtype=np.float64)
    for c in range(classes):
        weights[c] = np.exp((np.float64(logits[c]) - peak) / temperature)
        total += weights[c]
    target = uniform * total
    running = 0.0
    for c in range(classes):
        running += weights[c]
        if running > target:
            return c
    return best  # u*total rounded up to total: only possible for u within 1e-16 of 1


def keep_mask(num_frames: int, num_heads: int, redraw_heads=None, redraw_frames: tuple[int, int] | None = None) -> np.ndarray:
    """(T, H) bool: True where a previous latent is kept, False where it is redrawn.

    redraw_heads: the heads to redraw (None: all), e.g. every head but the mouth's to
    "resample the upper face"; redraw_frames: [start, end) model frames to redraw (None:
    all), e.g. to "resample frames 120-180". Both together redraw those heads in that range."""
    redraw = np.zeros((num_frames, num_heads), dtype=bool)
    rows = slice(None) if redraw_frames is None else slice(max(0, redraw_frames[0]), max(0, redraw_frames[1]))
    columns = slice(None) if redraw_heads is None else np.asarray(list(redraw_heads), dtype=np.int64)
    redraw[rows, columns] = True
    return ~redraw


@dataclass
class SamplerWeights:
    """The prior's weights, masked and laid out for the kernel (all float32 numpy)."""

    heads: int
    classes: int
    width: int  # channels per head
    dilations: np.ndarray  # (L,) int64
    embedding_rows: np.ndarray  # (H*C, H*K): row j is the embedding of one-hot input j
    embedding_bias: np.ndarray  # (H*K,)
    # Masked current-frame weights of the context layers and the logits layer, packed per
    # head in the order the kernel reads them (head 0: layers 0..L-1, logits; head 1: ...):
    # each block holds head h's rows and only the columns it may see (heads < h, or <= h
    # where the mask allows), so a frame's per-head work is one forward sweep through
    # memory. Block (layer, h) starts at head_offsets[layer, h] and has
    # head_columns[layer, h] columns; layer index L is the logits layer.
    head_packed: np.ndarray  # (sum of blocks,)
    head_offsets: np.ndarray  # (L + 1, H) int64
    head_columns: np.ndarray  # (L + 1, H) int64
    history_previous_t: np.ndarray  # (L, H*K, H*K): W1.T, applied to x[t-1]
    history_dilated_t: np.ndarray  # (L, H*K, H*K): W0.T, applied to x[t-1-d]
    # The first context layer's input is the embedding, a sum of one embedding row per
    # label, so its history products are sums of rows of W @ embedding: 16 gathered rows
    # per tap instead of a full mat-vec (layers 1.. read their (L, ...) entries above).
    first_history_rows: np.ndarray  # (2, H*C, H*K): tap previous, tap dilated
    first_history_bias: np.ndarray  # (2, H*K): the embedding bias through each tap
    audio_t: np.ndarray  # (A, L*H*K): the audio convs, transposed and stacked
    layer_bias: np.ndarray  # (L, H*K): masked + audio + history biases
    logits_bias: np.ndarray  # (H*C,)

    @staticmethod
    def from_prior(prior: Prior) -> "SamplerWeights":
        config = prior.config
        heads, classes, width = config.num_heads, config.num_classes, config.prior_channels

        def masked(layer) -> np.ndarray:
            return (layer.masked_linear.weight * layer.mask)[:, :, 0].detach().float().cpu().numpy()

        def has_diagonal(weight: np.ndarray, out_width: int, in_width: int) -> int:
            blocks = [weight[h * out_width:(h + 1) * out_width, h * in_width:(h + 1) * in_width] for h in range(heads)]
            return int(any(np.any(block != 0) for block in blocks))

        def f32(array) -> np.ndarray:
            return np.ascontiguousarray(array, dtype=np.float32)

        embedding = masked(prior.embedding)
        if has_diagonal(embedding, width, classes):
            raise ValueError("prior embedding mask lets head h see its own label: not autoregressive")
        layers = list(prior.context_layers)
        weights = [masked(layer) for layer in layers] + [masked(prior.logits)]
        rows = [width] * len(layers) + [classes]
        visible = [has_diagonal(w, r, width) for w, r in zip(weights, rows)]  # 1: head h sees itself
        blocks, offsets, columns, position = [], np.zeros((len(weights), heads), np.int64), \
            np.zeros((len(weights), heads), np.int64), 0
        for h in range(heads):
            for layer, (weight, out_width) in enumerate(zip(weights, rows)):
                columns[layer, h] = (h + visible[layer]) * width
                blocks.append(weight[h * out_width:(h + 1) * out_width, :columns[layer, h]].ravel())
                offsets[layer, h] = position
                position += blocks[-1].size
        to_np = lambda t: t.detach().float().cpu().numpy()  # noqa: E731
        first_taps = [f32(to_np(layers[0].historic.weight[:, :, tap])) for tap in (1, 0)]  # contiguous: BLAS
        embedding_bias = to_np(prior.embedding.masked_linear.bias)
        return SamplerWeights(
            heads=heads,
            classes=classes,
            width=width,
            dilations=np.array([layer.dilation for layer in layers], dtype=np.int64),
            embedding_rows=f32(embedding.T),
            embedding_bias=f32(embedding_bias),
            head_packed=f32(np.concatenate(blocks)),
            head_offsets=offsets,
            head_columns=columns,
            history_previous_t=f32(np.stack([to_np(layer.historic.weight[:, :, 1]).T for layer in layers])),
            history_dilated_t=f32(np.stack([to_np(layer.historic.weight[:, :, 0]).T for layer in layers])),
            first_history_rows=f32(np.stack([(tap @ embedding).T for tap in first_taps])),
            first_history_bias=f32(np.stack([tap @ embedding_bias for tap in first_taps])),
            audio_t=f32(np.concatenate([to_np(layer.unmasked_linear.weight[:, :, 0]).T for layer in layers], axis=1)),
            layer_bias=f32(np.stack([
                to_np(layer.masked_linear.bias + layer.unmasked_linear.bias + layer.historic.bias) for layer in layers
            ])),
            logits_bias=f32(to_np(prior.logits.masked_linear.bias)),
        )


@dataclass
class SamplerState:
    """What the sampler carries from one chunk of frames to the next."""

    frame: int  # global index of the next frame
    inputs: np.ndarray  # (L, RING, H*K) layer inputs x_l of recent frames (slot = frame % RING)
    dilated_terms: np.ndarray  # (L, RING, H*K) W0 x_l[s] of recent frames s
    labels: np.ndarray  # (RING, H) labels of recent frames

    @staticmethod
    def start(weights: SamplerWeights) -> "SamplerState":
        shape = (len(weights.dilations), RING, weights.heads * weights.width)
        return SamplerState(
            0, np.zeros(shape, np.float32), np.zeros(shape, np.float32), np.zeros((RING, weights.heads), np.int64)
        )


@numba.njit(cache=True, nogil=True, fastmath=True)
def _lrelu(values):
    for i in range(values.shape[0]):
        if values[i] < 0:
            values[i] *= np.float32(0.2)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _rows_times_matrix(rows, count, matrix, out):
    """out[i] = rows[i] @ matrix for i < count, reading the matrix once (BLAS GEMM would
    first copy the whole matrix into a packed buffer, which costs more than it saves
    for a handful of rows)."""
    for i in range(count):
        out[i, :] = 0
    for r in range(matrix.shape[0]):
        matrix_row = matrix[r]
        for i in range(count):
            value = rows[i, r]
            target = out[i]
            for c in range(matrix_row.shape[0]):
                target[c] += value * matrix_row[c]


@numba.njit(cache=True, nogil=True)
def _add_packed_product(packed, offset, rows, columns, inputs, scratch, target):
    """target += (the rows x columns block of ``packed`` at ``offset``) @ inputs[:columns]."""
    if columns > 0:
        block = packed[offset:offset + rows * columns].reshape((rows, columns))
        np.dot(block, inputs[:columns], scratch[:rows])  # BLAS mat-vec into a reused buffer
        target += scratch[:rows]


@numba.njit(cache=True, nogil=True)
def _sample_kernel(
    first_frame, audio_terms, uniforms, fixed_labels, fixed_mask, temperature,
    heads, classes, width, dilations, embedding_rows, embedding_bias,
    head_packed, head_offsets, head_columns, history_previous_t, history_dilated_t,
    first_history_rows, first_history_bias, layer_bias, logits_bias, inputs, dilated_terms, recent_labels,
    labels_out,
):
    num_frames = audio_terms.shape[0]
    num_layers = dilations.shape[0]
    channels = heads * width
    pre = np.empty((num_layers, channels), dtype=np.float32)
    batch = np.empty((RING, channels), dtype=np.float32)
    products = np.empty((RING, channels), dtype=np.float32)
    scratch = np.empty(max(channels, classes), dtype=np.float32)  # BLAS output, no allocation per call
    x = np.empty((num_layers + 1, channels), dtype=np.float32)  # layer inputs; x[L] feeds the logits
    head_logits = np.empty(classes, dtype=np.float32)
    for step in range(num_frames):
        t = first_frame + step
        # Batched dilated-history products: W0 x[s] for the last d+1 frames, once every d+1 frames.
        for layer in range(1, num_layers):
            group = dilations[layer] + 1
            if t % group == 0 and t >= group:
                for i in range(group):
                    batch[i] = inputs[layer, (t - group + i) % RING]
                _rows_times_matrix(batch, group, history_dilated_t[layer], products)
                for i in range(group):
                    dilated_terms[layer, (t - group + i) % RING] = products[i]
        # Everything of this frame that does not depend on this frame's labels.
        previous = (t - 1) % RING
        pre[0] = audio_terms[step, 0] + layer_bias[0]
        for tap in range(2):
            past = t - 1 - tap * dilations[0]
            if past >= 0:
                pre[0] += first_history_bias[tap]
                for h in range(heads):
                    pre[0] += first_history_rows[tap, h * classes + recent_labels[past % RING, h]]
        for layer in range(1, num_layers):
            pre[layer] = audio_terms[step, layer] + layer_bias[layer]
            if t >= 1:
                np.dot(inputs[layer, previous], history_previous_t[layer], scratch[:channels])
                pre[layer] += scratch[:channels]
            if t >= 1 + dilations[layer]:
                pre[layer] += dilated_terms[layer, (t - 1 - dilations[layer]) % RING]
        x[0] = embedding_bias
        # Head by head: each layer's head-h output needs only heads < h (or <= h) below it.
        for h in range(heads):
            rows_start, rows_end = h * width, (h + 1) * width
            for layer in range(num_layers):
                out = x[layer + 1, rows_start:rows_end]
                out[:] = pre[layer, rows_start:rows_end]
                _add_packed_product(head_packed, head_offsets[layer, h], width, head_columns[layer, h],
                                    x[layer], scratch, out)
                _lrelu(out)
            head_logits[:] = logits_bias[h * classes:(h + 1) * classes]
            _add_packed_product(head_packed, head_offsets[num_layers, h], classes, head_columns[num_layers, h],
                                x[num_layers], scratch, head_logits)
            if fixed_mask[step, h]:
                label = fixed_labels[step, h]
            else:
                label = draw_label(head_logits, uniforms[step, h], temperature)
            labels_out[step, h] = label
            recent_labels[t % RING, h] = label
            # The label's one-hot feeds the embedding of the later heads.
            x[0] += embedding_rows[h * classes + label]
        slot = t % RING
        for layer in range(num_layers):
            inputs[layer, slot] = x[layer]


_laid_out: "weakref.WeakKeyDictionary[Prior, tuple[tuple, SamplerWeights]]" = weakref.WeakKeyDictionary()


def sampler_weights(prior: Prior) -> SamplerWeights:
    """The prior's weights laid out for the kernel, made once per prior (0.45 s for the
    original size; the add-on animates many takes with one model) and made again if a
    parameter changed since (training steps bump each tensor's version)."""
    versions = tuple(parameter._version for parameter in prior.parameters())
    cached = _laid_out.get(prior)
    if cached is None or cached[0] != versions:
        cached = (versions, SamplerWeights.from_prior(prior))
        _laid_out[prior] = cached
    return cached[1]


class PriorSampler:
    """Samples labels from a prior, chunk by chunk, with exact continuity across chunks."""

    def __init__(self, prior: Prior):
        self.weights = sampler_weights(prior)
        if int(self.weights.dilations.max()) + 1 >= RING:
            raise ValueError(f"prior dilations up to {RING - 2} are supported")

    def start(self) -> SamplerState:
        return SamplerState.start(self.weights)

    def audio_terms(self, audio_codes: np.ndarray) -> np.ndarray:
        """(T, A) audio codes -> (T, L, H*K) each context layer's current-audio term."""
        w = self.weights
        terms = np.asarray(audio_codes, dtype=np.float32) @ w.audio_t
        return np.ascontiguousarray(terms.reshape(len(audio_codes), len(w.dilations), -1))

    def sample(
        self,
        state: SamplerState,
        audio_codes: np.ndarray,
        uniforms: np.ndarray,
        temperature: float = 1.0,
        fixed_labels: np.ndarray | None = None,
        fixed_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Labels (T, H) int64 for the next T frames.

        audio_codes: (T, A) float32; uniforms: (T, H) draws for these frames;
        fixed_labels/fixed_mask: (T, H) labels to keep where the mask is True (they are
        used as context for the labels drawn after them). Advances ``state``."""
        w = self.weights
        frames = len(audio_codes)
        if fixed_mask is None:
            fixed_mask = np.zeros((frames, w.heads), dtype=np.bool_)
            fixed_labels = np.zeros((frames, w.heads), dtype=np.int64)
        labels = np.empty((frames, w.heads), dtype=np.int64)
        # The kernel's mat-vecs are too small for BLAS threads to pay off (measured: a
        # second thread makes them slower), and the other core is busy decoding.
        with kernel_blas().limit(limits=1):
            _sample_kernel(
                state.frame, self.audio_terms(audio_codes), np.ascontiguousarray(uniforms, dtype=np.float64),
                np.ascontiguousarray(fixed_labels, dtype=np.int64), np.ascontiguousarray(fixed_mask, dtype=np.bool_),
                float(temperature), w.heads, w.classes, w.width, w.dilations, w.embedding_rows, w.embedding_bias,
                w.head_packed, w.head_offsets, w.head_columns, w.history_previous_t, w.history_dilated_t,
                w.first_history_rows, w.first_history_bias, w.layer_bias, w.logits_bias,
                state.inputs, state.dilated_terms, state.labels, labels,
            )
        state.frame += frames
        return labels
