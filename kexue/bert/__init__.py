"""Theme: bert (see kexue/articles.py): BERT-family backbones (HuggingFace, tiny configs, local
loaders), UniLM masks, the LIC2020 heads and CRF, ALBERT/ELECTRA checks, the dropout-consistent
MLM. Conditional LayerNorm lives in kexue.nn.conditional_ln."""

from kexue.bert.albert_electra import (
    count_parameters,
    electra_loss,
    flops_per_token,
    replace_tokens,
    require_mlm_head,
    unshare_albert,
)
from kexue.bert.backbone import (
    CharTokenizer,
    bert_tf_to_state_dict,
    keep_tokens_,
    load_pretrained,
    tiny_config,
)
from kexue.bert.crf import CRF
from kexue.bert.lic2020 import (
    EventTagger,
    RelationHeads,
    SpanExtractor,
    bio_decode,
    decode_objects,
    decode_span,
    decode_subjects,
    encode_with_pre_ln,
    event_soft_f1,
    gather_span,
    longest_common_substring,
    mrc_char_f1,
    power_bce,
    sample_subject_span,
    set_prf,
)
from kexue.bert.mlm_dropout import (
    column_dropout_attention,
    correct_mlm_embeddings_,
    drop_tokens,
    mask_tokens,
    mlm_consistent_embeddings,
)
from kexue.bert.unilm import (
    as_attention_mask,
    lm_mask,
    lm_step,
    unilm_loss,
    unilm_mask,
    unilm_step,
)

__all__ = [
    "CRF",
    "CharTokenizer",
    "EventTagger",
    "RelationHeads",
    "SpanExtractor",
    "as_attention_mask",
    "bert_tf_to_state_dict",
    "bio_decode",
    "column_dropout_attention",
    "correct_mlm_embeddings_",
    "count_parameters",
    "decode_objects",
    "decode_span",
    "decode_subjects",
    "drop_tokens",
    "electra_loss",
    "encode_with_pre_ln",
    "event_soft_f1",
    "flops_per_token",
    "gather_span",
    "keep_tokens_",
    "lm_mask",
    "lm_step",
    "load_pretrained",
    "longest_common_substring",
    "mask_tokens",
    "mlm_consistent_embeddings",
    "mrc_char_f1",
    "power_bce",
    "replace_tokens",
    "require_mlm_head",
    "sample_subject_span",
    "set_prf",
    "tiny_config",
    "unilm_loss",
    "unilm_mask",
    "unilm_step",
    "unshare_albert",
]
