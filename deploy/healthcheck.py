"""Container health check for the HTTP parts: exits 0 when URL answers 2xx.

    python deploy/healthcheck.py [URL]      (default http://127.0.0.1:8000/healthz)

The slim image has no curl; the standard library is enough.
"""
import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:8000/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError) as error:  # HTTPError (non-2xx) is a URLError
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
