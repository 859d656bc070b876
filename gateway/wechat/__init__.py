"""WeChat Official Account channel: protocol, crypto, API client and a local sandbox."""
