"""Theme: bert (see kexue/articles.py): BERT-family backbones (HuggingFace, tiny configs, local
HuggingFace and TensorFlow checkpoints, vocab.txt tokenizers), UniLM masks, the LIC2020 heads
and CRF, ALBERT/ELECTRA checks, the dropout-consistent MLM. Conditional LayerNorm lives in
kexue.nn.conditional_ln."""

from kexue.bert import albert_electra as _albert_electra
from kexue.bert import backbone as _backbone
from kexue.bert import crf as _crf
from kexue.bert import lic2020 as _lic2020
from kexue.bert import mlm_dropout as _mlm_dropout
from kexue.bert import tf_checkpoint as _tf_checkpoint
from kexue.bert import unilm as _unilm
from kexue.bert.albert_electra import *
from kexue.bert.backbone import *
from kexue.bert.crf import *
from kexue.bert.lic2020 import *
from kexue.bert.mlm_dropout import *
from kexue.bert.tf_checkpoint import *
from kexue.bert.unilm import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _albert_electra.__all__
__all__ += _backbone.__all__
__all__ += _crf.__all__
__all__ += _lic2020.__all__
__all__ += _mlm_dropout.__all__
__all__ += _tf_checkpoint.__all__
__all__ += _unilm.__all__
