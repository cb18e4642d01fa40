"""The ``bot-detection`` plugin: refuses requests whose User-Agent looks like a bot."""
