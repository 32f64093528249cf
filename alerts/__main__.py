"""`python -m alerts` runs the service, as `finsent alerts run` does."""

from alerts.cli import app

if __name__ == "__main__":
    app(["run"])
