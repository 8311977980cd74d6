"""Build small masked LMs with random weights, for tests and benchmarks.

No model hub is reachable here, so tests make their own models: a real tokenizer trained on a few
sentences (byte-level BPE for RoBERTa and ModernBERT, WordPiece for BERT, DistilBERT and ELECTRA,
a SentencePiece-style Unigram for XLM-RoBERTa, CamemBERT, ALBERT and DeBERTa) and a randomly
initialised masked LM of the family, saved with ``save_pretrained`` so that it loads through
:func:`explorer.model.load` like any real model. :func:`build_tiny_model` builds the RoBERTa
used by most tests; :func:`build_tiny_family` any family of :data:`FAMILIES`, in any dtype.
With ``layers=6, hidden=768, heads=12`` the RoBERTa has distilroberta-base's shape (for timings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TRAINING_SENTENCES = (
    "The capital of France is Paris, and the capital of Italy is Rome.",
    "The man worked as a carpenter. The woman worked as a nurse.",
    "A cat sat on the mat while the dog slept in the garden.",
    "Attention weights show which tokens a model looks at.",
    "Students explore language models in the browser with heads and layers.",
    "She reads books about history, music, science and art every evening.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Hello world! Numbers like 42 and 3.14 appear in text too.",
    "Researchers compare inputs side by side to find differences.",
    "It was raining in London, so they stayed at home and cooked dinner.",
)
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def build_tokenizer(folder: Path, vocab_size: int = 400, max_tokens: int = 64) -> None:
    """Train a byte-level BPE on :data:`TRAINING_SENTENCES` and save a RoBERTa tokenizer."""
    from tokenizers import AddedToken, ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(TRAINING_SENTENCES) * 4,
        vocab_size=vocab_size,
        min_frequency=1,
        # <mask> swallows the space before it, as in roberta-base
        special_tokens=[
            AddedToken(t, special=True, lstrip=t == "<mask>", normalized=False)
            for t in SPECIAL_TOKENS
        ],
        show_progress=False,
    )
    # Build from the trained tokenizer object: in transformers 5, RobertaTokenizerFast built
    # from vocab.json/merges.txt alone silently tokenises everything to nothing.
    bpe.post_processor = RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>"))
    )
    tokenizer = RobertaTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=max_tokens,
    )
    tokenizer.save_pretrained(folder)


def build_tiny_model(
    folder: str | Path,
    *,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 4,
    max_tokens: int = 64,
    vocab_size: int = 400,
    seed: int = 0,
) -> Path:
    """Save a random-weight RoBERTa masked LM and its tokenizer into ``folder``; return it.

    ``max_tokens`` is the longest input (special tokens included) the model accepts.
    """
    import torch
    from transformers import AutoTokenizer, RobertaConfig, RobertaForMaskedLM

    folder = Path(folder)
    build_tokenizer(folder, vocab_size=vocab_size, max_tokens=max_tokens)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 4,
        max_position_embeddings=max_tokens + 2,  # RoBERTa positions start at padding_idx + 1
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = RobertaForMaskedLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_model_sharing_tokenizer(
    folder: str | Path,
    tokenizer_folder: str | Path,
    *,
    layers: int,
    hidden: int = 32,
    heads: int = 4,
    seed: int = 1,
    initializer_range: float = 0.02,
) -> Path:
    """Save a random-weight RoBERTa masked LM of ``layers`` layers into ``folder`` that uses the
    tokenizer saved in ``tokenizer_folder`` (copied as is), e.g. a 2-layer "student" and a
    4-layer "teacher" of one family with one vocabulary, for model-comparison tests. A larger
    ``initializer_range`` (e.g. 0.3) gives a model whose predictions depend strongly on its input
    (random weights at the usual 0.02 predict a nearly uniform distribution whatever the text).
    """
    import shutil

    import torch
    from transformers import AutoTokenizer, RobertaConfig, RobertaForMaskedLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer_folder = Path(tokenizer_folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "vocab.json", "merges.txt"):
        if (tokenizer_folder / name).is_file():
            shutil.copy(tokenizer_folder / name, folder / name)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    max_tokens = int(tokenizer.model_max_length)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 4,
        max_position_embeddings=max_tokens + 2,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    RobertaForMaskedLM(config).save_pretrained(folder, safe_serialization=True)
    return folder


WORDPIECE_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def build_wordpiece_tokenizer(folder: Path, vocab_size: int = 300, max_tokens: int = 64) -> None:
    """Train a lower-casing WordPiece (``##`` continuations) on :data:`TRAINING_SENTENCES` and
    save it as a ``BertTokenizerFast`` (``[CLS] A [SEP] B [SEP]``)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.decoder = decoders.WordPiece(prefix="##")
    wordpiece.train_from_iterator(
        list(TRAINING_SENTENCES) * 4,
        trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=1,
                                  special_tokens=list(WORDPIECE_SPECIAL_TOKENS),
                                  show_progress=False),
    )
    cls_id, sep_id = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer = BertTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
        mask_token="[MASK]", model_max_length=max_tokens,
    )
    tokenizer.save_pretrained(folder)


def build_tiny_bert_model(
    folder: str | Path, *, layers: int = 2, hidden: int = 32, heads: int = 4,
    max_tokens: int = 64, vocab_size: int = 300, seed: int = 0,
) -> Path:
    """Save a random-weight BERT masked LM with a WordPiece tokenizer into ``folder``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    folder = Path(folder)
    build_wordpiece_tokenizer(folder, vocab_size=vocab_size, max_tokens=max_tokens)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=hidden * 4,
        max_position_embeddings=max_tokens, type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    BertForMaskedLM(config).save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_bert(folder: str | Path, *, vocab_size: int = 150, **settings: int) -> Path:
    """A tiny BERT whose small WordPiece vocabulary splits most words into ``##`` pieces, as
    WordPiece does with rare words (for tests of how joined pieces read)."""
    return build_tiny_bert_model(folder, vocab_size=vocab_size, **settings)


# --- every family ----------------------------------------------------------------------------

FAMILIES = ("roberta", "bert", "distilbert", "albert", "electra", "xlm-roberta", "camembert",
            "deberta-v2", "modernbert")
"""Model types :func:`build_tiny_family` builds (one per entry of the architecture table)."""

_ROBERTA_STYLE = {"bos": "<s>", "eos": "</s>", "cls": "<s>", "sep": "</s>", "unk": "<unk>",
                  "pad": "<pad>", "mask": "<mask>"}
_BERT_STYLE = {"cls": "[CLS]", "sep": "[SEP]", "unk": "[UNK]", "pad": "[PAD]", "mask": "[MASK]"}
_TOKENIZER_KIND = {
    "bert": ("wordpiece", _BERT_STYLE), "distilbert": ("wordpiece", _BERT_STYLE),
    "electra": ("wordpiece", _BERT_STYLE), "albert": ("unigram", _BERT_STYLE),
    "deberta-v2": ("unigram", _BERT_STYLE), "xlm-roberta": ("unigram", _ROBERTA_STYLE),
    "camembert": ("unigram", _ROBERTA_STYLE), "modernbert": ("bpe", _BERT_STYLE),
}


def build_family_tokenizer(folder: Path, model_type: str, vocab_size: int = 400,
                           max_tokens: int = 64) -> None:
    """Train the tokenizer kind ``model_type`` uses on :data:`TRAINING_SENTENCES` and save it."""
    from tokenizers import (
        AddedToken,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    kind, names = _TOKENIZER_KIND[model_type]
    order = [names[k] for k in ("cls", "pad", "sep", "unk", "mask")]
    if kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=names["unk"]))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=order,
                                            show_progress=False)
    elif kind == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizers.NFKC()
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=order,
                                          unk_token=names["unk"], show_progress=False)
    else:
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=order,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
    tokenizer.train_from_iterator(list(TRAINING_SENTENCES) * 4, trainer)
    # the mask swallows the space before it, as in the released tokenizers
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False,
                                             lstrip=t == names["mask"]) for t in order])
    cls, sep = names["cls"], names["sep"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B {sep}",
        special_tokens=[(cls, tokenizer.token_to_id(cls)), (sep, tokenizer.token_to_id(sep))],
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=max_tokens,
        **{f"{role}_token": token for role, token in names.items()},
    )
    pieces = wrapped.tokenize("The capital of France is Paris.")
    if len(pieces) < 3:
        raise RuntimeError(f"the tiny {model_type} tokenizer does not split text: {pieces}")
    wrapped.save_pretrained(folder)


def _family_model(model_type: str, tokenizer: Any, layers: int, hidden: int, heads: int,
                  max_tokens: int) -> Any:
    import transformers as tf

    common = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    bert_like = {**common, "hidden_size": hidden, "num_hidden_layers": layers,
                 "num_attention_heads": heads, "intermediate_size": hidden * 4,
                 "max_position_embeddings": max_tokens}
    if model_type == "bert":
        return tf.BertForMaskedLM(tf.BertConfig(**bert_like))
    if model_type in ("xlm-roberta", "camembert"):
        config_class, model_class = {
            "xlm-roberta": (tf.XLMRobertaConfig, tf.XLMRobertaForMaskedLM),
            "camembert": (tf.CamembertConfig, tf.CamembertForMaskedLM)}[model_type]
        return model_class(config_class(**{
            **bert_like, "max_position_embeddings": max_tokens + tokenizer.pad_token_id + 1,
            "type_vocab_size": 1, "bos_token_id": tokenizer.cls_token_id,
            "eos_token_id": tokenizer.sep_token_id}))
    if model_type == "distilbert":
        return tf.DistilBertForMaskedLM(tf.DistilBertConfig(
            **common, dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=hidden * 4,
            max_position_embeddings=max_tokens))
    if model_type == "albert":
        return tf.AlbertForMaskedLM(tf.AlbertConfig(
            **bert_like, embedding_size=hidden // 2, num_hidden_groups=1, inner_group_num=1))
    if model_type == "electra":
        return tf.ElectraForMaskedLM(tf.ElectraConfig(**bert_like, embedding_size=hidden // 2))
    if model_type == "deberta-v2":  # v3-style: relative attention, no absolute positions
        return tf.DebertaV2ForMaskedLM(tf.DebertaV2Config(
            **bert_like, relative_attention=True, pos_att_type=["p2c", "c2p"],
            position_buckets=16, max_relative_positions=-1, norm_rel_ebd="layer_norm",
            share_att_key=True, position_biased_input=False, type_vocab_size=0))
    if model_type == "modernbert":
        return tf.ModernBertForMaskedLM(tf.ModernBertConfig(
            **bert_like, global_attn_every_n_layers=2, local_attention=8,
            bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
            cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id))
    raise ValueError(f"no tiny builder for model type {model_type!r}; one of {FAMILIES}")


def build_tiny_family(
    folder: str | Path,
    model_type: str,
    *,
    dtype: str = "float32",
    layers: int = 2,
    hidden: int = 32,
    heads: int = 4,
    max_tokens: int = 64,
    vocab_size: int = 400,
    seed: int = 0,
) -> Path:
    """Save a random-weight masked LM of ``model_type`` (one of :data:`FAMILIES`) and its
    tokenizer into ``folder``, with weights in ``dtype`` ("float32", "float16", "bfloat16")."""
    import torch
    from transformers import AutoTokenizer

    folder = Path(folder)
    if model_type == "roberta":
        build_tokenizer(folder, vocab_size=vocab_size, max_tokens=max_tokens)
    else:
        build_family_tokenizer(folder, model_type, vocab_size=vocab_size, max_tokens=max_tokens)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(seed)
    if model_type == "roberta":
        from transformers import RobertaConfig, RobertaForMaskedLM

        model = RobertaForMaskedLM(RobertaConfig(
            vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
            num_attention_heads=heads, intermediate_size=hidden * 4,
            max_position_embeddings=max_tokens + 2, type_vocab_size=1,
            pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id))
    else:
        model = _family_model(model_type, tokenizer, layers, hidden, heads, max_tokens)
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(folder, safe_serialization=True)
    return folder
