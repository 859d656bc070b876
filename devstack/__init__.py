"""The assistant's real processes on free local ports, for the end-to-end tests and the benchmarks.

``devstack.stack`` starts rasa, the action server, the gateway and the WeChat sandbox (or a
cluster of them) the way ``make run`` does; ``tests/`` and ``bench/`` both use it, and no
application package imports it.
"""
