"""Outbound delivery: everything that sends a message to a customer outside a conversation turn.

Used by the gateway (RM replies and other handoff messages) and by the care scheduler (campaign
deliveries); it imports neither. ``contract`` is what a caller hands over and gets back,
``sender`` the one sender with its idempotency keys, ``wechat_api`` the WeChat server API client.
Other channels' providers (SMS) get their own subpackage here.
"""
