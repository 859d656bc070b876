"""FAQ knowledge base: import/export, the matcher, calibrated thresholds and a hot-reloading cache.

Nothing here connects to a database or builds an index at import time; see
:class:`faq.service.FaqService` for the long-lived object the action server holds.
"""
