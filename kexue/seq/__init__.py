"""Theme: seq (see kexue/articles.py): seq2seq with attention and the vocabulary prior, shared
autoregressive decoding (beam search, sampling, synchronous bidirectional beam search), the
couplet sequence labeller, generation metrics."""

from kexue.seq import bidirectional as _bidirectional
from kexue.seq import couplet as _couplet
from kexue.seq import decoding as _decoding
from kexue.seq import metrics as _metrics
from kexue.seq import seq2seq as _seq2seq
from kexue.seq.bidirectional import *
from kexue.seq.couplet import *
from kexue.seq.decoding import *
from kexue.seq.metrics import *
from kexue.seq.seq2seq import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _bidirectional.__all__
__all__ += _couplet.__all__
__all__ += _decoding.__all__
__all__ += _metrics.__all__
__all__ += _seq2seq.__all__
