"""Theme: text — n-gram counting, word discovery, segmentation, templates, word vectors."""

from kexue.text import evaluate as _evaluate
from kexue.text import ngrams as _ngrams
from kexue.text import segment as _segment
from kexue.text import templates as _templates
from kexue.text import word_discovery as _word_discovery
from kexue.text import word_vectors as _word_vectors
from kexue.text.evaluate import *
from kexue.text.ngrams import *
from kexue.text.segment import *
from kexue.text.templates import *
from kexue.text.word_discovery import *
from kexue.text.word_vectors import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _evaluate.__all__
__all__ += _ngrams.__all__
__all__ += _segment.__all__
__all__ += _templates.__all__
__all__ += _word_discovery.__all__
__all__ += _word_vectors.__all__
