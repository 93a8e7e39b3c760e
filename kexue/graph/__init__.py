"""Theme: graph (see kexue/articles.py)."""
