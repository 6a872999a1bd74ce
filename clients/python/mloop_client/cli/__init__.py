"""The `mloop` command line, built on `MLoopClient` only."""

from mloop_client.cli.app import build_app


def main() -> None:
    build_app()()


__all__ = ["build_app", "main"]
