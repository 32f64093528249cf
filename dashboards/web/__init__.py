"""The built-in, read-only web view (`finsent web`): JSON API plus one static page."""
