"""Theme: flows (see kexue/articles.py)."""
