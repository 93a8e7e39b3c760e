"""Theme: seq (see kexue/articles.py): seq2seq with attention and the vocabulary prior, shared
autoregressive decoding (beam search, sampling, synchronous bidirectional beam search), the
couplet sequence labeller, generation metrics."""

from kexue.seq.bidirectional import BiSeq2Seq, reverse_targets
from kexue.seq.couplet import (
    BiLSTMTagger,
    CoupletCNN,
    GatedResidualConv1d,
    constrained_decode,
    tagging_loss,
)
from kexue.seq.decoding import (
    Hypothesis,
    beam_search,
    bidirectional_beam_search,
    greedy_search,
    reorder_state,
    sample,
    top_k_top_p_filter,
)
from kexue.seq.metrics import bleu, copy_rate, lcs_length, position_accuracy, rouge_l, rouge_n
from kexue.seq.seq2seq import CharVocab, Seq2Seq, pad_batch, seq_cross_entropy, source_bag

__all__ = [
    "BiLSTMTagger",
    "BiSeq2Seq",
    "CharVocab",
    "CoupletCNN",
    "GatedResidualConv1d",
    "Hypothesis",
    "Seq2Seq",
    "beam_search",
    "bidirectional_beam_search",
    "bleu",
    "constrained_decode",
    "copy_rate",
    "greedy_search",
    "lcs_length",
    "pad_batch",
    "position_accuracy",
    "reorder_state",
    "reverse_targets",
    "rouge_l",
    "rouge_n",
    "sample",
    "seq_cross_entropy",
    "source_bag",
    "tagging_loss",
    "top_k_top_p_filter",
]
