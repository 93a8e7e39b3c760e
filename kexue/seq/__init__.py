"""Theme: seq (see kexue/articles.py)."""
