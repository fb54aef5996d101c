"""The session explorer: a read-only JSON API and a web page over what the pipeline stored."""

from spectator.explorer.app import create_app, serve

__all__ = ["create_app", "serve"]
