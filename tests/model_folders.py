"""Model folders for the first-run and model-fault tests: a hub-cache layout, a BERT encoder
saved without its masked-LM head."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

BERT_SENTENCE = ("the cat sat on the mat . the dog slept in the garden . paris is the "
                 "capital of france . attention heads and layers of a model read text .")


def put_in_hub_cache(model_dir: Path, cache: Path, repo_id: str,
                     revision: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """Lay ``model_dir``'s files out as huggingface_hub does: blobs named by hash, a snapshot
    of symlinks to them, and ``refs/main``; return the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    for file in model_dir.iterdir():
        if not file.is_file():
            continue
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / file.name
        if not link.exists():
            os.symlink(os.path.relpath(blob, snapshot), link)
    return snapshot


def build_headless_bert(folder: Path, with_head: bool = False, seed: int = 0) -> Path:
    """A 2-layer BERT saved as ``BertModel`` (no ``cls.*`` weights, as sentence-transformers
    save theirs), or as ``BertForMaskedLM`` with ``with_head=True``; WordPiece tokenizer."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForMaskedLM, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator([BERT_SENTENCE] * 4, vocab_size=200, min_frequency=1,
                                  show_progress=False)
    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, unk_token="[UNK]",
                                  sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                                  mask_token="[MASK]", model_max_length=64)
    tokenizer.save_pretrained(folder)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = BertForMaskedLM(config) if with_head else BertModel(config, add_pooling_layer=False)
    model.save_pretrained(folder, safe_serialization=True)
    return folder
