"""Access functions: the only way the rest of the system reads or changes customer data.

Every function that returns account data takes a ``VerifiedCustomer``, which only
``identity.require_verified`` can produce, so unverified callers cannot reach it by mistake.
"""
