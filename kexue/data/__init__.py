"""Offline data: 2-D toys, sklearn's digits, People's Daily, reviews, couplets, CSL titles;
streamed datasets over text files too big for RAM (couplets, title–text corpora)."""

from kexue.data import corpora as _corpora
from kexue.data import dependence as _dependence
from kexue.data import images as _images
from kexue.data import nlp_formats as _nlp_formats
from kexue.data import streaming as _streaming
from kexue.data import synthetic_images as _synthetic_images
from kexue.data import toy2d as _toy2d
from kexue.data import user_images as _user_images
from kexue.data import userfiles as _userfiles
from kexue.data.corpora import *
from kexue.data.dependence import *
from kexue.data.images import *
from kexue.data.nlp_formats import *
from kexue.data.streaming import *
from kexue.data.synthetic_images import *
from kexue.data.toy2d import *
from kexue.data.user_images import *
from kexue.data.userfiles import *

# The public names are those of the modules' __all__ (each written once, in its module).
__all__: list[str] = []
__all__ += _corpora.__all__
__all__ += _dependence.__all__
__all__ += _user_images.__all__
__all__ += _images.__all__
__all__ += _nlp_formats.__all__
__all__ += _streaming.__all__
__all__ += _synthetic_images.__all__
__all__ += _toy2d.__all__
__all__ += _userfiles.__all__
