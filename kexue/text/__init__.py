"""Theme: text (see kexue/articles.py)."""
