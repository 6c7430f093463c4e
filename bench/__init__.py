"""`make bench`: figures, not tests. See bench/__main__.py."""
