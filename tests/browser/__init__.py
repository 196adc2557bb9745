"""Browser tests: Playwright for Python driving Debian's chromium through the real example app."""
